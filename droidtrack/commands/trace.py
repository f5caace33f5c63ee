"""`droidtrack trace`: the kernel's dma_buf events live (Linux 7.0+ tracepoints, root), and each
buffer's lifetime: who exported it, fds installed per process, maps, imports, attach/detach."""
from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

from droidtrack.commands.record import parse_duration
from droidtrack.ingest.trace_feed import TraceFeed
from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.present.trace_text import event_line, lifetimes_table

SCHEMA = "droidtrack.trace/1"
EPILOG = """\
examples:
  droidtrack trace                          events as they happen until Ctrl-C, then every buffer's lifetime
  droidtrack trace -d 30s -o run.jsonl      30 seconds, events and lifetimes written as JSON lines
  droidtrack trace --save-stream t.raw      keep the device's raw stream; read it again with --stream t.raw

Needs root on the device (tracefs) and a kernel with the dma_buf tracepoints (Linux 7.0 and later).
On an older kernel droidtrack says so and falls back to snapshots every --interval, printing the
buffers that appeared, went away or changed holders. A stream cut by a disconnect keeps every event
that arrived and says it was cut. Formats: docs/formats.md (the stream), docs/recording-format.md.

exit codes: 0 traced (or fell back to snapshots), 2 nothing could be traced, or the stream was cut
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="dma-buf events live (Linux 7.0+ tracepoints) and each buffer's lifetime",
                       description="Stream the kernel's dma_buf tracepoints over one adb shell and keep a "
                                   "lifetime per buffer.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--duration", type=parse_duration, metavar="T", help="stop after this long")
    p.add_argument("-o", "--output", metavar="FILE", help="write the events and lifetimes as JSON lines")
    p.add_argument("--format", choices=("text", "jsonl"), default="text", help="what stdout shows live")
    p.add_argument("-q", "--quiet", action="store_true", help="no live event lines, only the lifetimes")
    p.add_argument("--save-stream", metavar="FILE", help="also keep the raw stream the device sent")
    p.add_argument("-i", "--interval", type=parse_duration, default=2.0, metavar="T",
                   help="snapshot interval of the fallback on kernels without the events (default 2s)")
    g = p.add_argument_group("where the events come from (default: the connected device)")
    g.add_argument("--stream", metavar="FILE", help="a raw stream saved with --save-stream")
    g.add_argument("--root", metavar="DIR", help="run the trace script against DIR/sys/kernel/tracing")
    from droidtrack.sources.adb import add_device_arguments
    add_device_arguments(p)
    p.set_defaults(func=run)


class _Out:
    """Live output and the -o file, fed from the thread that reads the stream."""

    def __init__(self, args, feed_token: str) -> None:
        self.args = args
        self.file = open(args.output, "w", encoding="utf-8") if args.output else None
        self.raw = open(args.save_stream, "wb") if args.save_stream else None
        self.lock = threading.Lock()
        self.token = feed_token
        self.feed: TraceFeed | None = None

    def header(self, origin: str) -> None:
        if self.file:
            self.file.write(json.dumps({"type": "header", "schema": SCHEMA, "origin": origin,
                                        "time": time.time()}, ensure_ascii=True) + "\n")

    def event(self, ev) -> None:
        if ev.kind == "exit" and (self.feed is None or ev.process not in self.feed.lifetimes.processes):
            return                     # a process that never touched a dma-buf
        with self.lock:
            if self.file:
                self.file.write(json.dumps({"type": "event", **ev.to_json()}, ensure_ascii=True) + "\n")
            if self.args.quiet:
                return
            if self.args.format == "jsonl":
                print(json.dumps({"type": "event", **ev.to_json()}, ensure_ascii=True), flush=False)
            else:
                print(event_line(ev))

    def raw_bytes(self, data: bytes) -> None:
        if self.raw:
            self.raw.write(data)

    def end(self, feed: TraceFeed) -> None:
        st = feed.status
        doc = {"type": "end", "state": st.state, "reason": st.reason, "directory": st.directory,
               "events": st.events, "lost_events": st.lost_events, "end_marker": st.end_marker,
               "formats": st.formats, "lifetimes": feed.lifetimes.to_json(),
               "problems": [p.to_json() for p in feed.problems.summarized()]}
        if self.file:
            self.file.write(json.dumps(doc, ensure_ascii=True) + "\n")
            self.file.close()
        if self.raw:
            self.raw.close()
        if self.args.format == "jsonl" and not self.args.quiet:
            print(json.dumps(doc, ensure_ascii=True))
        sys.stdout.flush()


def _stream_local(root: str, token: str, feed: TraceFeed, out: _Out, stop: threading.Event) -> str | None:
    from droidtrack.collect.collector import script_path
    tracefs = Path(root) / "sys" / "kernel" / "tracing"
    p = subprocess.Popen(["sh", str(script_path("trace.sh")), "--token", token, "--tracefs", str(tracefs)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def errs() -> None:
        for chunk in iter(lambda: p.stderr.read1(65536), b""):
            feed.feed_stderr(chunk)
    t = threading.Thread(target=errs, daemon=True)
    t.start()

    def stopper() -> None:
        stop.wait()
        try:
            p.stdin.close()
        except OSError:
            pass
    threading.Thread(target=stopper, daemon=True).start()
    for chunk in iter(lambda: p.stdout.read1(65536), b""):
        out.raw_bytes(chunk)
        feed.feed(chunk)
    p.wait()
    t.join(5)
    return None


def _stream_adb(args, token: str, feed: TraceFeed, out: _Out, stop: threading.Event) -> tuple[str | None, str]:
    from droidtrack.sources import adb
    target = adb.target_from_args(args)
    session = adb._session(target)

    def chunk(data: bytes) -> None:
        out.raw_bytes(data)
        feed.feed(data)
    r = session.trace(token, chunk, feed.feed_stderr, stop)
    return r.error, f"adb:{session.serial}"


def stream_in_thread(args, token: str, feed: TraceFeed, stop: threading.Event, raw=None, *, close: bool = False):
    """Stream trace.sh from the device of `args` (adb, or --root) in a thread that ends when the
    stream does (set `stop` to end it). Returns (the thread, {"error", "origin"} once it ended).
    close: the thread closes the feed itself (with the stream's error) when the stream ends."""
    result: dict = {"error": None, "origin": "?"}
    sink = raw or (lambda data: None)

    class _Raw:
        raw_bytes = staticmethod(sink)

    def work() -> None:
        try:
            if getattr(args, "root", None):
                result["origin"] = f"root:{args.root}"
                result["error"] = _stream_local(args.root, token, feed, _Raw, stop)
            else:
                result["error"], result["origin"] = _stream_adb(args, token, feed, _Raw, stop)
        except Exception as e:                     # noqa: BLE001 - said, and the events kept
            result["error"] = f"{type(e).__name__}: {e}"
        if close:
            feed.close(result["error"])
    t = threading.Thread(target=work, daemon=True, name="droidtrack-trace")
    t.start()
    return t, result


def _fallback(args, stop: threading.Event, deadline: float | None) -> int:
    from droidtrack.model.lifetimes import snapshot_changes
    from droidtrack.sources import SourceError, source_from_args
    ns = argparse.Namespace(**{**vars(args), "replay": None, "capture": None, "bugreport": None,
                               "report_zip": None, "rules": None, "dumpsys": False, "fd_inodes": "auto"})
    try:
        src = source_from_args(ns)
        prev = src.collect().snapshot
    except SourceError as e:
        print(f"droidtrack trace: no snapshot either: {e}", file=sys.stderr)
        return 2
    print(f"snapshot: {len(prev.buffers)} buffers, {human_size(sum(b.size for b in prev.buffers.values()))}")
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(args.interval if deadline is None else max(0.0, min(args.interval, deadline - time.monotonic())))
            if stop.is_set():
                break
            cur = src.collect().snapshot
            for c in snapshot_changes(prev, cur):
                holders = ", ".join(f"{safe(n)}[{p}]" for p, n in c["holders"].items()) or "no process"
                print(f"{c['change']:<8} {c['key']:<12} {human_size(c['size']):>9}  {safe(c['exporter'] or '?'):<10} {holders}")
            prev = cur
    except KeyboardInterrupt:
        pass
    return 0


def run(args: argparse.Namespace) -> int:
    token = secrets.token_hex(12)
    out = _Out(args, token)
    feed = out.feed = TraceFeed(token, on_event=out.event)
    stop = threading.Event()
    deadline = time.monotonic() + args.duration if args.duration else None
    if args.stream:
        data = Path(args.stream).read_bytes()
        first = data.split(b"\n", 1)[0]
        tok = first[2:].split(b" ", 1)[0].decode("ascii", "replace") if first.startswith(b"@@") else token
        feed = out.feed = TraceFeed(tok, on_event=out.event)
        out.header(f"stream:{args.stream}")
        for i in range(0, len(data), 1 << 16):
            feed.feed(data[i:i + (1 << 16)])
        feed.close(None)
        return _finish(args, feed, out, None, stop, deadline, can_fall_back=False)

    out.header("live")
    t, result = stream_in_thread(args, token, feed, stop, out.raw_bytes)
    try:
        while t.is_alive():
            t.join(0.2)
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
        print("stopping: the device disables the events and ends the stream", file=sys.stderr)
        t.join(20)
    stop.set()
    t.join(20)
    feed.close(result["error"])
    return _finish(args, feed, out, result["error"], threading.Event(), deadline, can_fall_back=True)


def _finish(args, feed: TraceFeed, out: _Out, error: str | None, stop: threading.Event,
            deadline: float | None, can_fall_back: bool) -> int:
    st = feed.status
    out.end(feed)
    if st.state in ("unsupported", "denied"):
        why = {"no-dma_buf-events": "this kernel has no dma_buf tracepoints (tracefs has no events/dma_buf; "
                                    "they came with Linux 7.0)",
               "no-tracefs": "tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing)"
               }.get(st.reason or "", f"tracing was {st.state}: {st.reason}")
        if st.state == "denied":
            why += " (droidtrack trace needs root: adb root, or su)"
        print(f"droidtrack trace: no live events: {why}.", file=sys.stderr)
        if not can_fall_back:
            return 2
        print(f"falling back to snapshots every {args.interval:g} s (buffers that appear, go away or change holders)",
              file=sys.stderr)
        return _fallback(args, stop, deadline)
    if args.format == "text":
        print()
        print(f"{st.events} events, {len(feed.lifetimes.buffers)} buffers"
              + (f", {st.lost_events} events lost (trace buffer overrun)" if st.lost_events else ""))
        for line in lifetimes_table(feed.lifetimes):
            print(line)
    for p in feed.problems.summarized():
        print(f"problem: {p.message}" + (f": {safe(p.text)}" if p.text else ""), file=sys.stderr)
    if st.state == "cut" or error:
        print(f"droidtrack trace: the stream was cut ({st.reason}); the {st.events} events received are kept",
              file=sys.stderr)
        return 2
    return 0
