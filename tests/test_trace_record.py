"""record --trace: dma_buf events stored beside the samples (recording/2 `trace_events`), read back
as lifetimes, and leak suspects told from real exports."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import dtfactory as f
from dtfactory import MiB
from droidtrack.double.tracefs import TraceFS
from droidtrack.history.compare import leak_suspects
from droidtrack.history.recording_db import DbWriter
from droidtrack.history.recording_db_reader import DbReader
from droidtrack.model.lifetimes import Lifetimes
from droidtrack.parse.dmabuf_trace import TraceEvent
from droidtrack.sim.synth import DeviceTree

REPO = Path(__file__).resolve().parent.parent


def ev(kind, ino, pid=700, comm="allocator", fd=None, size=2 * MiB, ts=1.0):
    return TraceEvent(kind=kind, ts=ts, pid=pid, tgid=pid, comm=comm, cpu=0, ino=ino, size=size,
                      exporter="system", fd=fd)


def leak_lifetimes(n: int) -> Lifetimes:
    """The allocator exports each buffer the camera leaks (f.leaking_series), at the sample it appears."""
    lt = Lifetimes()
    for j in range(n - 1):
        lt.sample = j + 1
        lt.apply(ev("export", 100 + j, ts=10.0 + j))
        lt.apply(ev("fd", 100 + j, fd=20 + j, ts=10.1 + j))
    return lt


def test_leak_suspects_use_the_real_exports_where_the_recording_has_them():
    series = f.leaking_series(6)
    plain = leak_suspects(series)
    assert any(s.kind == "persistent" and len(s.buffers) == 5 for s in plain)
    found = leak_suspects(series, lifetimes=leak_lifetimes(6))
    assert not any(s.kind == "persistent" and len(s.buffers) == 5 for s in found)   # told by the exports now
    e = next(s for s in found if s.kind == "exported")
    assert e.subject == "5 buffer(s) from system exported by allocator[700]"
    assert e.bytes == 10 * MiB and e.confidence == 1.0 and e.first_sample == 1
    assert e.buffers == tuple(f"ino:{100 + j}" for j in range(5)) and e.owner == "com.example.camera"
    # a buffer exported and freed before the end is no suspect; the orphan stays what it was
    assert {s.kind for s in found} >= {"orphan", "growth", "exported"}


def test_a_buffer_whose_inode_came_back_with_another_size_is_not_claimed():
    series = f.leaking_series(3)
    lt = Lifetimes()
    lt.sample = 1
    lt.apply(ev("export", 100, size=4096))
    assert not any(s.kind == "exported" for s in leak_suspects(series, lifetimes=lt))


def test_recording_db_keeps_trace_events_with_their_sample(tmp_path):
    path = str(tmp_path / "r.db")
    series = f.leaking_series(3)
    w = DbWriter(path)
    w.add_snapshot(series[0])
    w.queue_events([ev("export", 100, comm="cam hal-1"), ev("fd", 100, fd=7)])
    w.add_snapshot(series[1])
    w.queue_events([ev("export", 101), ev("mmap_internal", 101, pid=1234, comm="camera")])
    w.add_snapshot(series[2])
    w.queue_events([ev("put", 101)])                 # after the last sample
    w.set_trace_status({"state": "ended", "events": 5, "lost_events": 0})
    w.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT sample, kind, ino FROM trace_events ORDER BY id").fetchall() == [
        (1, "export", 100), (1, "fd", 100), (2, "export", 101), (2, "mmap_internal", 101), (None, "put", 101)]
    assert json.loads(con.execute("SELECT value FROM meta WHERE key = 'trace'").fetchone()[0])["events"] == 5
    con.close()
    lt = DbReader(path).lifetimes()
    assert lt.buffers[100].exported["sample"] == 1 and lt.buffers[100].exported["comm"] == "cam hal-1"
    assert lt.buffers[100].fds == {700: [7]}
    assert lt.buffers[101].maps == {1234: 1} and lt.buffers[101].puts == {700: 1}
    # a recording without trace events has no lifetimes
    w = DbWriter(str(tmp_path / "plain.db"))
    w.add_snapshot(series[0])
    w.close()
    assert DbReader(str(tmp_path / "plain.db")).lifetimes() is None


def test_record_trace_streams_into_the_recording(tmp_path):
    root = tmp_path / "root"
    DeviceTree("a13-5.15").write(root)
    fs = TraceFS(root).start(rate=300, limit=600)
    try:
        r = subprocess.run([sys.executable, "-m", "droidtrack", "record", str(tmp_path / "r.db"), "--root", str(root),
                            "--trace", "-i", "1", "-n", "3", "-q"], capture_output=True, text=True, cwd=REPO,
                           timeout=120)
    finally:
        fs.stop()
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(tmp_path / "r.db")
    n = con.execute("SELECT count(*) FROM trace_events").fetchone()[0]
    status = json.loads(con.execute("SELECT value FROM meta WHERE key = 'trace'").fetchone()[0])
    assert n == status["events"] == fs.written > 0 and status["state"] == "ended" and status["end_marker"]
    assert f"{n} dma_buf events recorded" in r.stderr


def test_record_trace_on_a_kernel_without_the_events_says_so(tmp_path):
    root = tmp_path / "root"
    DeviceTree("a13-5.15").write(root)
    (root / "sys/kernel/tracing/events").mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "droidtrack", "record", str(tmp_path / "r.db"), "--root", str(root),
                        "--trace", "-n", "1", "-q"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "this kernel has no dma_buf tracepoints" in r.stderr


def test_report_on_a_traced_recording_names_the_exporter(tmp_path):
    import zipfile
    path = tmp_path / "r.db"
    w = DbWriter(str(path))
    lt_events = []
    for j in range(5):
        lt_events.append([ev("export", 100 + j, ts=10.0 + j), ev("fd", 100 + j, fd=20 + j, ts=10.1 + j)])
    for i, snap in enumerate(f.leaking_series(6)):
        if i:
            w.queue_events(lt_events[i - 1])
        w.add_snapshot(snap)
    w.close()
    out = tmp_path / "rep.zip"
    r = subprocess.run([sys.executable, "-m", "droidtrack", "report", "--replay", str(path), "-o", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(out) as z:
        md = next(z.read(n).decode() for n in z.namelist() if n.endswith("summary.md"))
    assert "exported by allocator" in md and "dma_buf_export events" in md and "owner com.example.camera" in md
