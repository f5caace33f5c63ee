"""`droidtrack top`: the live terminal UI (droidtrack/tui)."""
from __future__ import annotations

import argparse
import copy
import sys

from droidtrack.commands import add_command
from droidtrack.sources import SourceError, add_source_arguments, source_from_args

EPILOG = """\
examples:
  droidtrack top                         the connected device, refreshed every 2 s
  droidtrack top --demo                  the built-in simulated phone (a camera app that leaks)
  droidtrack top -s emulator-5554 --also R5CT31 -n 5     two devices, one tab each, every 5 s
  droidtrack top --replay session.dtr    step through a recording ([ ] keys, or play with p)
  droidtrack top --root fixtures/a13-5.15   a device-root tree, re-read every interval
  droidtrack top --demo --web 127.0.0.1:8000   the same UI in a browser (one app per tab)

keys (? in the UI lists them all):
  1-4 views (processes, tags & exporters, kernel-only, leaks)   Enter drill down   Esc back
  / filter   < > sort column   I invert   g group by package / tag   b leak baseline
  p pause   + - interval   s save the raw capture   r bug-report zip   q quit

exit codes: 0 quit normally, 2 no terminal, the source could not be opened, or --web cannot listen
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "top", EPILOG, "live terminal UI: processes, tags, kernel-only buffers, leaks (like htop)",
                    "Keep it open beside the app you debug: every process holding dma-bufs with RSS, "
                    "PSS, fd-only (in no kernel counter), mapped and in-RSS bytes, the change since the "
                    "first sample, per-tag history, buffers no process holds, leak suspects, and a "
                    "coverage bar that says what could not be read. Collection runs in the background: "
                    "a disconnect shows a banner and is retried, the history is kept.")
    add_source_arguments(p)
    p.add_argument("-n", "--interval", type=float, default=2.0, metavar="SECONDS",
                   help="seconds between snapshots (default 2; + and - change it in the UI)")
    p.add_argument("--also", action="append", default=[], metavar="SERIAL",
                   help="another adb device to show in its own tab (repeatable)")
    p.add_argument("--save-dir", default=".", metavar="DIR",
                   help="where s (capture) and r (bug report) write their files (default: here)")
    p.add_argument("--trace", action="store_true",
                   help="also show allocations as they happen: the kernel's dma_buf events (Linux 7.0+, root; "
                        "see `droidtrack trace`), in a bar under the summary")
    p.add_argument("--web", metavar="ADDR",
                   help="serve the UI to browsers at ADDR (HOST:PORT, e.g. 127.0.0.1:8000) instead of this "
                        "terminal; each browser tab gets its own app on the same sources. No authentication: "
                        "keep it on a loopback address (or behind your own proxy)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.focus_packages = True      # --package: read only those apps' processes (cheaper on the device)
    if args.interval <= 0:
        print("droidtrack top: --interval must be positive", file=sys.stderr)
        return 2
    if getattr(args, "web", None):
        from droidtrack.tui.web import serve
        return serve(args)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("droidtrack top: needs a terminal (for a one-off table use `droidtrack snapshot`, "
              "for a browser `--web 127.0.0.1:8000`)", file=sys.stderr)
        return 2
    return show(args)


def show(args: argparse.Namespace) -> int:
    """Open the sources of `args` and run the app on them (in this terminal, or in the browser
    tab textual-serve started this process for)."""
    sources = []
    try:
        sources.append(source_from_args(args))
        for serial in args.also:
            a = copy.copy(args)
            a.serial, a.demo, a.root, a.capture, a.replay, a.bugreport = serial, False, None, None, None, None
            a.report_zip = None
            sources.append(source_from_args(a))
    except SourceError as e:
        for s in sources:
            s.close()
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    from droidtrack.tui.app import run_top
    packages = getattr(args, "package", None) or []
    events, stop = None, None
    if getattr(args, "trace", False):
        if any(getattr(args, k, None) for k in ("replay", "capture", "bugreport", "report_zip", "demo")):
            print("droidtrack top: --trace needs a device (or --root): a file or the demo has no kernel to trace",
                  file=sys.stderr)
            return 2
        import secrets
        import threading
        from droidtrack.commands.trace import stream_in_thread
        from droidtrack.ingest.trace_feed import TraceFeed
        from droidtrack.tui.events import LiveEvents
        events, stop = LiveEvents(), threading.Event()
        tf = TraceFeed(secrets.token_hex(12), on_event=events.on_event, on_status=events.on_status)
        thread, _ = stream_in_thread(args, tf.token, tf, stop, close=True)
    try:
        return run_top(sources if len(sources) > 1 else sources[0], interval=args.interval,
                       save_dir=args.save_dir, initial_filter=packages[0] if len(packages) == 1 else "",
                       events=events)
    finally:
        if stop is not None:
            stop.set()
            thread.join(20)
