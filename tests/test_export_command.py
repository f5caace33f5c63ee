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
