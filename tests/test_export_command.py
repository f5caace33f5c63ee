"""`droidtrack export` and `record --csv/--perfetto` on bad input (issue 12 #4, #10): a recording with no
valid sample, and outputs that are the input."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dtfactory as f
from droidtrack.history.recording import RecordingWriter, open_recording, open_writer
from droidtrack.sources import Collected

REPO = Path(__file__).resolve().parents[1]
FIXTURE = str(REPO / "fixtures" / "a13-5.15")


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "droidtrack", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=timeout)


def test_export_of_a_recording_with_no_valid_sample_exits_2_and_writes_nothing(tmp_path):
    v1 = tmp_path / "damaged.dtr"
    with RecordingWriter(str(v1), {}) as w:
        w.add_collected(Collected(f.leaking_series(1)[0]))
    rec = open_recording(str(v1))
    data = bytearray(v1.read_bytes())
    data[rec.samples[0].offset + 5] ^= 0x20                  # its only sample fails the CRC
    v1.write_bytes(bytes(data))
    empty = tmp_path / "empty.db"
    open_writer(str(empty), {}).close()                     # a /2 file with no sample
    for p in (v1, empty):
        out = tmp_path / (p.name + ".csv")
        r = cli("export", str(p), "--csv", str(out), "--perfetto", str(tmp_path / (p.name + ".json")))
        assert r.returncode == 2, (p, r.returncode, r.stderr)
        assert "no" in r.stderr and "sample" in r.stderr
        assert not out.exists() and not (tmp_path / (p.name + ".json")).exists()
        assert not [x for x in os.listdir(tmp_path) if x.endswith(".tmp")]


def test_export_refuses_to_write_onto_the_recording(tmp_path):
    p = tmp_path / "x.dtr"
    w = open_writer(str(p), {})
    for s in f.leaking_series(2):
        w.add_collected(Collected(s))
    w.close()
    before = p.read_bytes()
    link = tmp_path / "link.csv"
    os.link(p, link)
    for target in (str(p), str(link)):
        for opt in ("--csv", "--perfetto"):
            r = cli("export", str(p), opt, target)
            assert r.returncode == 2 and "refusing" in r.stderr, r.stderr
    assert p.read_bytes() == before and len(open_recording(str(p))) == 2
    ok = cli("export", str(p), "--csv", str(tmp_path / "x.csv"))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "x.csv").read_text().count("\n") > 2


def test_record_refuses_an_export_onto_its_own_recording_before_recording(tmp_path):
    e = tmp_path / "e.dtr"
    r = cli("record", str(e), "--csv", str(e), "-n", "1", "--root", FIXTURE)
    assert r.returncode == 2 and "same file" in r.stderr, r.stderr
    assert not e.exists()
    r = cli("record", str(e), "-n", "1", "--root", FIXTURE, "--csv", str(tmp_path / "e.csv"))
    assert r.returncode == 0, r.stderr
    before = e.read_bytes()
    r = cli("record", str(e), "--append", "--perfetto", str(e), "-n", "1", "--root", FIXTURE)
    assert r.returncode == 2 and "same file" in r.stderr, r.stderr
    assert e.read_bytes() == before


def test_export_says_which_sample_it_left_out_and_counts_what_it_wrote(tmp_path):
    """A sample nested 5,000 deep was dropped silently and the message claimed every sample."""
    from droidtrack.model import schema
    good = schema.dumps(f.leaking_series(1)[0], all_processes=True)
    deep = good.replace('"device": {', '"device": {"x": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    p = tmp_path / "r.dtr"
    with RecordingWriter(str(p), {}) as w:
        w.add("snapshot", good.encode(), time=1.0)
        w.add("snapshot", deep.encode(), time=2.0)
    out = tmp_path / "r.csv"
    r = cli("export", str(p), "--csv", str(out))
    assert r.returncode == 0, r.stderr
    assert "(1 samples; 1 skipped: " in r.stderr and "r.dtr: sample 1: line" in r.stderr, r.stderr
    assert "nested too deeply" in r.stderr and "Traceback" not in r.stderr
    assert {line.split(",")[0] for line in out.read_text().splitlines()[1:]} == {"0"}
