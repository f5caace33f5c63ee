"""droidtrack trace: the stream parser on hostile input, the lifetime model, trace.sh under mksh
and toybox against the double's tracefs (--root), and the whole path through a real adb server
and the device double."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from droidtrack.double.tracefs import TraceFS
from droidtrack.ingest.trace_feed import TraceFeed
from droidtrack.parse.dmabuf_trace import TraceEvent, parse_line

from device.conftest import *  # noqa: F401,F403  (adb_server, make_double)
from needs import needs

REPO = Path(__file__).resolve().parent.parent
TOK = "abc123"
HEAD = f"@@{TOK} TRACE start /t\n@@{TOK} FORMAT\n@@{TOK} STREAM\n".encode()
END = f"            sh-1       (      1) [000] ...1.    9.0: tracing_mark_write: droidtrack-end-{TOK}\n" \
      f"@@{TOK} TRACE end signal\n@@{TOK} STATS\n/t/per_cpu/cpu0/stats:overrun: 0\n".encode()


def ev(comm="app", pid=10, kind="dma_buf_fd", args="exp_name=system size=4096 ino=7 fd=5", tgid=None):
    tg = f"({tgid if tgid is not None else pid:>7}) "
    return f"{comm:>16}-{pid:<7} {tg}[001] d..1.   12.500000: {kind}: {args}"


def test_every_event_the_kernel_prints_is_read():
    e = parse_line(ev())
    assert isinstance(e, TraceEvent) and (e.kind, e.ino, e.size, e.exporter, e.fd, e.process) == ("fd", 7, 4096, "system", 5, 10)
    a = parse_line(ev(kind="dma_buf_dynamic_attach", args="exp_name=system size=4096 ino=7 "
                      "attachment:(____ptrval____) is_dynamic=0 dev_name=1a00000.gpu"))
    assert (a.kind, a.dev, a.dynamic, a.attachment) == ("dynamic_attach", "1a00000.gpu", False, "(____ptrval____)")
    x = parse_line(ev(kind="sched_process_exit", args="comm=app pid=10 prio=120 group_dead=true"))
    assert (x.kind, x.group_dead) == ("exit", True)
    assert parse_line(ev(kind="sched_process_exit", args="comm=app pid=10 prio=120")).group_dead is None
    # a thread of another process: the event is the thread group's
    assert parse_line(ev(pid=11, tgid=10)).process == 10
    assert parse_line(ev().replace("(     10)", "(-------)")).tgid is None


@pytest.mark.parametrize("comm", ["wl-9 child", "a-1 [000]", "x", "<...>", "-12", "sp ace-7"])
def test_comms_with_spaces_dashes_and_digits_keep_the_right_pid(comm):
    e = parse_line(ev(comm=comm, pid=4321))
    assert isinstance(e, TraceEvent) and e.pid == 4321 and e.comm == comm


def test_exporter_names_with_spaces_and_field_lookalikes_are_read_whole():
    e = parse_line(ev(args="exp_name=my heap size=1 ino=2 size=4096 ino=7 fd=5"))
    assert (e.exporter, e.size, e.ino, e.fd) == ("my heap size=1 ino=2", 4096, 7, 5)


@pytest.mark.parametrize("line", [
    "", "garbage", ev()[:60], ev(args="exp_name=system size=4096"), ev(args="exp_name=system size=x ino=7 fd=5"),
    ev(kind="dma_buf_frob"), ev(args="exp_name=system size=4096 ino=7 fd=5 extra"), "=" * 5000,
    ev(args="exp_name=a\x00b size=1 ino=99999999999999999999999 fd=1"),
])
def test_garbage_and_cut_lines_are_never_events(line):
    assert not isinstance(parse_line(line), TraceEvent)


def feed_all(data: bytes, step: int = 7, error=None) -> TraceFeed:
    f = TraceFeed(TOK)
    for i in range(0, len(data), step):
        f.feed(data[i:i + step])
    f.close(error)
    return f


def test_chunks_cut_anywhere_give_the_same_lifetimes():
    lines = [ev(kind="dma_buf_export", args="exp_name=system size=4096 ino=7"), ev(),
             ev(kind="dma_buf_mmap_internal", args="exp_name=system size=4096 ino=7"),
             ev(comm="sf", pid=20, kind="dma_buf_mmap_internal", args="exp_name=system size=4096 ino=7"),
             "CPU:1 [LOST 3 EVENTS]", "junk line \x1b[31m", ev(comm="app", kind="sched_process_exit",
                                                                  args="comm=app pid=10 prio=120 group_dead=true")]
    data = HEAD + ("\n".join(lines) + "\n").encode() + END
    whole = feed_all(data, step=len(data))
    for step in (1, 3, 64):
        assert feed_all(data, step).lifetimes.to_json() == whole.lifetimes.to_json()
    life = whole.lifetimes.buffers[7]
    assert life.exported["comm"] == "app" and life.fds == {10: [5]} and life.maps == {10: 1, 20: 1}
    assert whole.lifetimes.processes[10].exited == 12.5
    st = whole.status
    assert st.state == "ended" and st.end_marker and st.lost_events == 3
    msgs = [p.message for p in whole.problems]
    assert any("3 events lost" in m for m in msgs) and any("skipped" in m for m in msgs)


def test_a_stream_cut_mid_line_keeps_every_whole_event_and_says_so():
    data = HEAD + (ev() + "\n" + ev(pid=11)[:50]).encode()
    f = feed_all(data, error="device went away")
    assert f.status.state == "cut" and f.status.events == 1
    assert f.lifetimes.buffers[7].fds == {10: [5]}
    assert any("middle of a line" in p.message for p in f.problems)
    assert any("cut" in p.message for p in f.problems)


def test_a_flood_of_garbage_is_a_handful_of_problems():
    f = feed_all(HEAD + b"x\n" * 100000, step=65536)
    assert len(f.problems.summarized()) < 30 and f.status.events == 0


def test_unsupported_kernels_say_so():
    f = feed_all(f"@@{TOK} TRACE unsupported no-dma_buf-events\n".encode())
    assert (f.status.state, f.status.reason) == ("unsupported", "no-dma_buf-events")


# ---- trace.sh for real (mksh + toybox) over the double's tracefs --------------------------------

def _run_trace(args, timeout=90, **kw):
    return subprocess.run([sys.executable, "-m", "droidtrack", "trace", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, **kw)


@needs("mksh", "toybox")
def test_trace_root_streams_every_event_and_ends_cleanly(tmp_path):
    fs = TraceFS(tmp_path).start(rate=0, limit=3000)
    try:
        r = _run_trace(["--root", str(tmp_path), "-d", "3", "-q", "-o", str(tmp_path / "t.jsonl")])
    finally:
        fs.stop()
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    end = recs[-1]
    assert end["state"] == "ended" and end["end_marker"] and end["problems"] == []
    assert sum(1 for x in recs if x["type"] == "event") == fs.written == 3000 - 0
    # trace.sh switched the events on and off again
    d = tmp_path / "sys/kernel/tracing/events"
    assert (d / "dma_buf/enable").read_text().strip() == "0"
    assert (d / "sched/sched_process_exit/enable").read_text().strip() == "0"


@needs("mksh", "toybox")
def test_trace_ends_when_started_with_hangups_ignored(tmp_path):
    """Under nohup (SIGHUP ignored, inherited by every child) trace.sh could not trap the signal
    its stdin watcher sent itself and streamed on after the host had gone (a shell cannot trap
    a signal it was started with ignored): every trace test failed in a `nohup .ci/run`."""
    import signal
    fs = TraceFS(tmp_path).start(rate=0, limit=500)
    try:
        r = _run_trace(["--root", str(tmp_path), "-d", "2", "-q", "-o", str(tmp_path / "t.jsonl")], timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    finally:
        fs.stop()
    assert r.returncode == 0, r.stderr
    end = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])
    assert end["state"] == "ended" and end["end_marker"]


def test_no_dma_buf_events_dir_says_so_and_falls_back_to_snapshots(tmp_path):
    root = tmp_path / "root"
    (root / "sys/kernel/tracing/events/sched").mkdir(parents=True)
    (root / "proc").mkdir()
    r = _run_trace(["--root", str(root), "-d", "1", "-i", "0.5"])
    assert "this kernel has no dma_buf tracepoints" in r.stderr and "falling back to snapshots" in r.stderr
    assert r.returncode == 0 and "snapshot:" in r.stdout


@contextmanager
def _rooted_phone(make_double, tmp_path, rate: float):
    """The a13 phone behind a real adb server, rooted (tracefs needs root), its tracefs feeding
    events at `rate` per second until the block ends."""
    from droidtrack.double import DeviceConfig
    from droidtrack.sim.synth import DeviceTree
    root = tmp_path / "phone"
    DeviceTree("a13-5.15").write(root)
    fs = TraceFS(root).start(rate=rate)
    try:
        yield make_double(root, DeviceConfig(rooted=True)), fs, root
    finally:
        fs.stop()


def _trace_over_adb(ph, seconds: float):
    """trace.sh through AdbSession.trace for `seconds` (or until the stream ends): (result, feed)."""
    from droidtrack.sources import adb
    feed = TraceFeed(TOK)
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    r = adb.AdbSession(ph.target).trace(TOK, feed.feed, feed.feed_stderr, stop)
    stop.set()
    feed.close(r.error)
    return r, feed


def test_trace_through_the_double_keeps_up_and_stops_the_device_side(make_double, tmp_path):
    with _rooted_phone(make_double, tmp_path, 5000) as (ph, fs, root):
        r, feed = _trace_over_adb(ph, 2.0)
    assert r.error is None and r.exit_code == 0, r
    st = feed.status
    assert st.state == "ended" and st.end_marker, (st, [(p.message, p.text) for p in feed.problems])
    assert st.events == fs.written > 5000
    assert (root / "sys/kernel/tracing/events/dma_buf/enable").read_text().strip() == "0"


def test_a_pulled_cable_mid_trace_keeps_every_event_received_and_says_it_was_cut(make_double, tmp_path):
    from droidtrack.double.device import Fault
    with _rooted_phone(make_double, tmp_path, 2000) as (ph, fs, root):
        ph.double.add_fault(Fault("drop", after_bytes=60000, match="trace.sh", offline=True))
        r, feed = _trace_over_adb(ph, 20.0)              # never reached: the cable goes first
    assert r.error is not None and "went away" in r.error, r
    st = feed.status
    assert st.state == "cut" and 200 < st.events < fs.written
    assert len(feed.lifetimes.buffers) > 30                  # what arrived is all there
    msgs = [p.message for p in feed.problems]
    assert any(m.startswith("trace stream cut") for m in msgs)


def test_the_trace_command_through_adb_writes_events_and_lifetimes(make_double, tmp_path):
    with _rooted_phone(make_double, tmp_path, 1000) as (ph, fs, root):
        r = _run_trace(["-P", str(ph.server.port), "-s", ph.serial, "-d", "2", "-o", str(tmp_path / "t.jsonl")])
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    end = recs[-1]
    assert end["state"] == "ended" and end["end_marker"] and end["events"] == fs.written > 500
    # every event is written (the synthetic exits are all of processes that had dma-buf events)
    assert sum(1 for x in recs if x["type"] == "event") == end["events"]
    assert " exported " in r.stdout and "events," in r.stdout     # the live lines and the lifetimes
