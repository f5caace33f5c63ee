"""CSV and Perfetto (JSON trace-event) exports of a recording, from `export` and from `record`."""
from __future__ import annotations

import csv
import io
import json

import dtfactory as f
from dtfactory import MiB
from droidtrack.cli import main
from droidtrack.model import Process
from droidtrack.present import csv_out
from droidtrack.present import trace
from droidtrack.history.recording import RecordingWriter, open_recording
from droidtrack.sources import Collected


def rec(path, snaps):
    with RecordingWriter(str(path)) as w:
        for s in snaps:
            w.add_collected(Collected(s))
    return str(path)


def test_csv_is_tidy_and_parses_back():
    series = f.leaking_series(3)
    rows = list(csv.DictReader(io.StringIO(csv_out.dumps(series))))
    assert set(rows[0]) == set(csv_out.HEADER)
    totals = [int(r["bytes"]) for r in rows if r["kind"] == "total"]
    assert totals == [18 * MiB, 20 * MiB, 22 * MiB]
    app = [r for r in rows if r["kind"] == "process" and r["pid"] == "1234"]
    assert [int(r["bytes"]) for r in app] == [7 * MiB, 9 * MiB, 8 * MiB]
    assert all(r["key"] == "com.example.camera" for r in app)
    cam = [int(r["bytes"]) for r in rows if r["kind"] == "tag" and r["key"] == "camera"]
    assert cam == [3 * MiB, 5 * MiB, 7 * MiB]


def test_csv_escapes_hostile_names():
    procs = dict(f.PROCS)
    procs[1234] = Process(1234, "x", ('evil,"name"\nwith newline',), fds_readable=True)
    text = csv_out.dumps([f.snap(f.base_buffers(), procs=procs)])
    rows = list(csv.reader(io.StringIO(text)))
    assert any(r[3] == 'evil,"name"\\nwith newline' for r in rows)
    assert all(len(r) == len(csv_out.HEADER) for r in rows)


def test_trace_has_counters_per_process_and_tag_and_names():
    series = f.leaking_series(4)
    ev = trace.events(series)
    names = {e["pid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
    assert names[0].startswith("dma-buf totals") and names[1234] == "com.example.camera"
    assert names[500] == "/system/bin/surfaceflinger"
    counters = [e for e in ev if e["ph"] == "C"]
    assert all(isinstance(e["ts"], int) and isinstance(e["pid"], int) for e in counters)
    tags = [e for e in counters if e["name"] == "by tag"]
    assert [e["ts"] for e in tags] == [0, 5_000_000, 10_000_000, 15_000_000]
    assert [e["args"]["camera"] for e in tags] == [3 * MiB, 5 * MiB, 7 * MiB, 9 * MiB]
    app = [e["args"]["rss"] for e in counters if e["pid"] == 1234]
    assert app == [7 * MiB, 9 * MiB, 8 * MiB, 10 * MiB]
    # every process that has a counter has a name
    assert {e["pid"] for e in counters} <= set(names)


def test_trace_drops_a_vanished_process_to_zero():
    a = f.snap(f.base_buffers())
    b = f.snap([x for x in f.base_buffers() if x.key != "ino:12"], t=a.time + 1)
    ev = [e for e in trace.events([a, b]) if e["ph"] == "C" and e["pid"] == 600]
    assert [(e["ts"], e["args"]["rss"]) for e in ev] == [(0, 2 * MiB), (1_000_000, 0)]


def test_export_command_writes_both_files(tmp_path, capsys):
    r = rec(tmp_path / "r.dtr", f.leaking_series(3))
    c, p = tmp_path / "r.csv", tmp_path / "r.json"
    assert main(["export", r, "--csv", str(c), "--perfetto", str(p)]) == 0
    assert c.read_text().startswith("sample,time,kind,key,pid,bytes,pss,buffers\n")
    doc = json.loads(p.read_text())
    assert doc["displayTimeUnit"] == "ms" and len(doc["traceEvents"]) > 10
    assert main(["export", r]) == 2
    assert main(["export", str(tmp_path / "none.dtr"), "--csv", str(c)]) == 2
    assert main(["export", r, "--csv", str(tmp_path / "no" / "dir.csv")]) == 2


def test_record_from_a_replay_with_exports(tmp_path, capsys):
    src = rec(tmp_path / "src.dtr", f.leaking_series(4))
    out = tmp_path / "out.dtr"
    code = main(["record", str(out), "--replay", src, "-i", "10ms", "-n", "10",
                 "--csv", str(tmp_path / "o.csv"), "--perfetto", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "sample 4" in err and "4 samples in" in err       # a replay stops at its last sample
    got = open_recording(str(out))
    assert len(got.samples) == 4 and got.header["interval"] == 0.01
    assert len([l for l in (tmp_path / "o.csv").read_text().splitlines() if ",total,total," in l]) == 4
    assert json.loads((tmp_path / "o.json").read_text())["traceEvents"]
    # an existing file is refused, --append continues it
    assert main(["record", str(out), "--replay", src, "-n", "1", "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["record", str(out), "--replay", src, "-n", "2", "-i", "1ms", "--append", "-q"]) == 0
    assert len(open_recording(str(out)).samples) == 6


def test_sigterm_stops_a_recording_cleanly_and_still_exports(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from droidtrack.sim.synth import DeviceTree
    t = DeviceTree("a13-5.15")
    t.add_process(600, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    t.hold_fd(600, t.add_buffer(MiB, name="fb"))
    t.write(tmp_path / "phone")
    out = tmp_path / "r.dtr"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.Popen([sys.executable, "-m", "droidtrack", "record", str(out), "--root", str(tmp_path / "phone"),
                          "-i", "100ms", "-q", "--csv", str(tmp_path / "r.csv")], env=env,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if out.exists() and len(open_recording(str(out)).samples) >= 2:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=30)[1]
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    n = len(open_recording(str(out)).samples)
    assert n >= 2 and f"{n} samples in" in err
    assert len([l for l in (tmp_path / "r.csv").read_text().splitlines() if ",total,total," in l]) == n


def test_csv_and_json_trace_have_the_bytes_charged_to_each_owner():
    from droidtrack.model.account import account
    series = f.leaking_series(3)
    rows = list(csv.DictReader(io.StringIO(csv_out.dumps(series))))
    own = [r for r in rows if r["kind"] == "owner"]
    for i, s in enumerate(series):
        t = account(s).totals
        assert {r["key"]: int(r["bytes"]) for r in own if r["sample"] == str(i)} == t.by_owner
        assert sum(int(r["bytes"]) for r in own if r["sample"] == str(i)) == t.userspace
    cam = [r for r in own if r["key"] == "com.example.camera"]
    assert [r["pid"] for r in cam] == ["1234"] * 3 and [int(r["buffers"]) for r in cam] == [2, 3, 3]
    ev = [e for e in trace.events(series) if e["ph"] == "C" and e["name"] == "by owner"]
    assert [e["args"] for e in ev] == [account(s).totals.by_owner | {k: 0 for k in
                                       set().union(*(account(x).totals.by_owner for x in series[:i]))
                                       - account(s).totals.by_owner.keys()} for i, s in enumerate(series)]


def test_csv_owner_keys_are_escaped_and_never_formulas():
    procs = dict(f.PROCS)
    procs[1234] = Process(1234, "x", ('=HYPERLINK("x")\n',), uid=10123, fds_readable=True)
    bufs = f.base_buffers() + [f.buf(50, MiB, holders={1234: f.fd(3)})]     # held by it alone: its own
    rows = list(csv.reader(io.StringIO(csv_out.dumps([f.snap(bufs, procs=procs)]))))
    keys = [r[3] for r in rows if r[2] == "owner"]
    assert "'=HYPERLINK(\"x\")\\n" in keys, keys
