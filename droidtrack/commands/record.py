"""`droidtrack record OUT.dtr`: sample a device at an interval into one crash-safe recording file."""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time

from droidtrack.commands import add_command
from droidtrack.model.account import account
from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.history.recording import RecordingError, open_writer
from droidtrack.sources import SourceError, add_source_arguments, source_from_args

EPILOG = """\
examples:
  droidtrack record run.dtr                          every 5 s until Ctrl-C
  droidtrack record run.dtr -i 2 -d 10m              every 2 s for ten minutes
  droidtrack record run.dtr -n 30 --demo             30 samples of the built-in simulated phone
  droidtrack record run.db -d 1h --csv run.csv --perfetto run.pftrace
  droidtrack top --replay run.dtr                    play it back (also: snapshot, check, diff, export)

A recording is an SQLite database (droidtrack.recording/2: query it with sqlite3 or pandas); each
sample is one committed transaction: a crash or a pulled cable loses at most the sample in flight.
A sample whose stream was cut is recorded as failed, not as a device holding nothing. --append
continues an existing recording (a droidtrack.recording/1 file stays /1). One recorder per file.
Format: docs/recording-format.md.

exit codes: 0 recorded (also when stopped with Ctrl-C or SIGTERM), 2 nothing could be recorded or the device
went away (the samples already written are kept), 130 (143 for SIGTERM) stopped before the first sample
"""

_DUR = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*$")


def parse_duration(s: str) -> float:
    m = _DUR.match(s)
    if not m:
        raise argparse.ArgumentTypeError(f"{s!r} is not a duration (e.g. 30, 30s, 10m, 1.5h)")
    mult = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    v = float(m.group(1)) * mult
    if v <= 0:
        raise argparse.ArgumentTypeError("a duration must be more than zero")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "record", EPILOG, "sample at an interval into one recording file (crash-safe)",
                    "Take a snapshot every INTERVAL and append it to OUT (a droidtrack.recording/2 "
                    "SQLite file) for DURATION, COUNT samples, or until interrupted.")
    p.add_argument("output", metavar="OUT", help="the recording file to write (conventionally .dtr)")
    p.add_argument("-i", "--interval", type=parse_duration, default=5.0, metavar="T",
                   help="time between samples (default 5s; 500ms, 2s, 1m ...)")
    p.add_argument("-d", "--duration", type=parse_duration, metavar="T", help="stop after this long")
    p.add_argument("-n", "--count", type=int, metavar="N", help="stop after N samples")
    p.add_argument("--append", action="store_true", help="add to an existing recording instead of refusing")
    p.add_argument("--csv", metavar="FILE", help="when done, also export the recording as CSV")
    p.add_argument("--perfetto", metavar="FILE",
                   help="when done, also export a Perfetto trace (protobuf; JSON when FILE ends in .json)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--trace", action="store_true",
                   help="also stream the kernel's dma_buf events (Linux 7.0+, root; see `droidtrack trace`) "
                        "into the recording beside the samples: leak suspects then use real lifetimes")
    add_source_arguments(p)
    p.set_defaults(func=run)


class _Stopped(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl-C (a subclass, not KeyboardInterrupt itself: droidtrack/interrupt.py)."""


def _stop(signum, frame):
    raise _Stopped()


class _Tracer:
    """record --trace: the dma_buf event stream in a thread, its events queued into the recording
    (written with each sample's transaction), its end stored in meta `trace`."""

    def __init__(self, args, writer) -> None:
        import secrets
        from droidtrack.commands.trace import stream_in_thread
        from droidtrack.ingest.trace_feed import TraceFeed
        self.writer = writer
        self.feed = TraceFeed(secrets.token_hex(12), on_event=self._event)
        self.halt = threading.Event()
        self.thread, self.result = stream_in_thread(args, self.feed.token, self.feed, self.halt)

    def _event(self, ev) -> None:
        # the exit of a process that never touched a dma-buf is every process on the phone: not kept
        if ev.kind != "exit" or ev.process in self.feed.lifetimes.processes:
            self.writer.queue_events((ev,))

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(30)
        f = self.feed
        f.close(self.result["error"])
        st = f.status
        if hasattr(self.writer, "set_trace_status"):
            self.writer.set_trace_status({"state": st.state, "reason": st.reason, "events": st.events,
                                          "lost_events": st.lost_events, "end_marker": st.end_marker})
        if st.state in ("unsupported", "denied"):
            msg = ("this kernel has no dma_buf tracepoints (Linux 7.0+): the recording has samples only"
                   if st.reason == "no-dma_buf-events" else f"no dma_buf events ({st.state}: {st.reason}): samples only")
        else:
            msg = (f"{st.events} dma_buf events recorded" + (f", {st.lost_events} lost (trace buffer overrun)"
                                                             if st.lost_events else "")
                   + (f"; the trace stream was cut: {st.reason}" if st.state == "cut" else ""))
        print(f"droidtrack: trace: {msg}", file=sys.stderr)


class Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.first = None

    def sample(self, i: int, snap, nbytes: int) -> None:
        if self.quiet:
            return
        acc = account(snap)
        total = acc.totals.bytes
        if self.first is None:
            self.first = total
        line = (f"sample {i + 1}  {time.strftime('%H:%M:%S', time.localtime(snap.time or time.time()))}  "
                f"{human_size(total)} in {acc.totals.buffers} buffers  ({human_size(total - self.first, signed=True)} "
                f"since start)  file {human_size(nbytes)}")
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def failed(self, i: int, why: str) -> None:
        # said even with --quiet: a sample that does not stand for the device is news
        sys.stderr.write(("\r\x1b[K" if self.tty else "") + f"sample {i + 1}  failed (it does not stand for the device; recorded as failed): "
                         f"{safe(why)}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print("droidtrack record: --count must be at least 1", file=sys.stderr)
        return 2
    from droidtrack.present.outfile import OutputError, refuse_collisions
    try:
        # before a long recording, not after it: an export onto the recording (or the source) is refused
        refuse_collisions((("recording", args.output), ("CSV", args.csv), ("trace", args.perfetto)),
                          inputs=[getattr(args, k, None) for k in ("replay", "capture", "bugreport")])
        refuse_collisions((("CSV", args.csv), ("trace", args.perfetto)), inputs=[args.output])
        src = source_from_args(args)
    except (OutputError, SourceError) as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    if args.trace and any(getattr(args, k, None) for k in ("replay", "capture", "bugreport", "report_zip", "demo")):
        print("droidtrack record: --trace needs a device (or --root): a file or the demo has no kernel to trace",
              file=sys.stderr)
        return 2
    writer = None
    code = 0
    prog = Progress(args.quiet)
    tracer = None
    # SIGTERM (`kill PID`, a CI job being cancelled; background jobs of a script ignore SIGINT)
    # stops a recording as cleanly as Ctrl-C: the samples are already on disk, exports still run
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _stop)
    try:
        start = time.monotonic()
        tick = 0          # the schedule: sample i is due at start + tick * interval
        taken = 0
        while True:
            try:
                got = src.collect()
            except SourceError as e:
                prog.done()
                n = writer.count if writer else 0
                print(f"droidtrack: {e}" + (f" (the recording keeps its {n} samples)" if writer else ""),
                      file=sys.stderr)
                code = 2
                break
            if writer is None:
                snap = got.snapshot
                try:
                    writer = open_writer(args.output, {"origin": snap.origin, "serial": snap.device.serial,
                                                       "model": snap.device.model, "interval": args.interval},
                                         append=args.append)
                except RecordingError as e:
                    print(f"droidtrack: {e}", file=sys.stderr)
                    return 2
                if args.trace and not hasattr(writer, "queue_events"):
                    print("droidtrack record: --trace needs a droidtrack.recording/2 file (this one is /1); "
                          "recording samples only", file=sys.stderr)
                elif args.trace:
                    tracer = _Tracer(args, writer)
            writer.add_collected(got)
            taken += 1
            if not getattr(got, "complete", True):
                prog.failed(taken - 1, got.incomplete or "the collection was cut")
            else:
                prog.sample(writer.count - 1, got.snapshot, writer.bytes)
            if getattr(src, "exhausted", False):
                break    # replaying a recording: it has no more samples
            if args.count is not None and taken >= args.count:
                break
            tick += 1
            now = time.monotonic()
            if start + tick * args.interval < now:   # a slow collection: skip the ticks it overran
                tick = int((now - start) // args.interval) + 1
            nxt = start + tick * args.interval
            if args.duration is not None and nxt - start > args.duration:
                break
            time.sleep(max(0.0, nxt - time.monotonic()))
    except KeyboardInterrupt as e:
        if writer is None:       # stopped before the first sample: nothing recorded
            if isinstance(e, _Stopped):
                raise SystemExit(143) from None
            raise                # Ctrl-C: exit 130 (cli)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        prog.done()
        src.close()
        if tracer is not None:
            tracer.stop()
        if writer is not None:
            writer.close()
    if writer is None:
        return code or 2
    print(f"droidtrack: {writer.count} samples in {args.output} ({human_size(writer.bytes)})", file=sys.stderr)
    if args.csv or args.perfetto:
        from droidtrack.commands.export import export
        try:
            for w in export(args.output, csv_path=args.csv, perfetto_path=args.perfetto,
                            rules=getattr(src, "rules", None)):
                print(f"droidtrack: wrote {safe(w.describe())}", file=sys.stderr)
        except (RecordingError, OutputError, OSError) as e:
            print(f"droidtrack: export failed: {e}", file=sys.stderr)
            return 2
    return code
