"""`droidtrack demo`: a simulated phone with a leaking camera app, no device needed."""
from __future__ import annotations

import argparse
import sys
import time

from droidtrack.commands import add_command

EPILOG = """\
The demo phone is droidtrack's device double (a fake adbd running the real collector over a
simulated /proc and /sys) behind a private adb server, so it exercises exactly what a real phone
does. Its camera app leaks two preview buffers per snapshot, by fd only: watch
com.example.camera's FD-ONLY column grow while no RSS counter moves.
The camera provider keeps an fd to each leaked buffer and SurfaceFlinger to every other one, so by
PSS all three grow; press 5 for the Owners view: the whole leak is charged to com.example.camera,
the app it was made for (Enter on it shows each buffer's rule and why; the CHARGED column says the
same per process).

In a terminal it opens the live UI (`droidtrack top`) on the demo phone; piped, or with --tables,
it prints snapshot tables instead.

examples:
  droidtrack demo                         the live UI on the demo phone (q quits, ? shows the keys)
  droidtrack demo --tables                five snapshot tables, two seconds apart
  droidtrack demo --tables --count 20 -n 1
  droidtrack demo --demo-build user       the same phone as a user build: no root, run-as for the app
  droidtrack demo --serve                 keep the demo phone running and print how to reach it, e.g.
                                          droidtrack snapshot -P PORT -s SERIAL / adb -P PORT -s SERIAL shell
  droidtrack top --demo                   the live UI on the demo phone
  droidtrack snapshot --demo --format json

needs: Linux and what `pip install droidtrack` brings (the adb binary of the adbutils package: no
adb server needs to be running, the demo starts its own on a free port and stops it at exit).
With mksh and toybox installed and a mount namespace to be had (as root, or where unprivileged
user namespaces are allowed) the collector runs under Android's own shell and applets in a
private namespace; otherwise under the host's POSIX sh and utilities, directly on the host if no
namespace can be made. It says once on stderr which. The phone's serial is 127.0.0.1:47150 (the
next port up while another demo holds it), the same every run.

exit codes: 0 done, 2 the demo phone could not start, 130 interrupted
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "demo", EPILOG, "a simulated phone with a leaking camera app: see every feature, no device needed",
                    "Start the built-in demo phone and show how its dma-buf usage evolves.")
    p.add_argument("--tables", action="store_true",
                   help="print snapshot tables instead of opening the live UI (the default when not in a terminal)")
    p.add_argument("--count", type=int, default=5, metavar="N", help="tables: snapshots to print (default 5)")
    p.add_argument("-n", "--interval", type=float, default=2.0, metavar="SECONDS",
                   help="seconds between snapshots (default 2)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="processes per table (default 10)")
    p.add_argument("--serve", action="store_true",
                   help="only run the demo phone (until Ctrl-C) and print its adb port and serial")
    from droidtrack.sources.adb_devices import add_demo_build_argument
    add_demo_build_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from droidtrack.sim.demo import DemoError, start_demo_device
    if args.count < 1 or args.interval < 0:
        print("droidtrack demo: --count must be at least 1 and --interval not negative", file=sys.stderr)
        return 2
    try:
        with start_demo_device(build=args.demo_build) as (port, serial):
            if args.serve:
                return _serve(port, serial)
            if not args.tables and sys.stdin.isatty() and sys.stdout.isatty():
                return _ui(args, port, serial)
            return _tables(args, port, serial)
    except DemoError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code


def _serve(port: int, serial: str) -> int:
    print(f"demo phone running: adb server port {port}, serial {serial}\n"
          f"  droidtrack snapshot -P {port} -s {serial}\n"
          f"  droidtrack top -P {port} -s {serial}\n"
          f"  ANDROID_ADB_SERVER_PORT={port} adb -s {serial} shell\n"
          "Ctrl-C stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def _packages(args: argparse.Namespace) -> tuple[str, ...]:
    """On the user build, the debuggable demo app is read by run-as (as `--package` would), and
    the dumps a shell may run (--dumpsys) give the rest its estimates."""
    from droidtrack.sim.demo import DEBUGGABLE_PACKAGE
    return (DEBUGGABLE_PACKAGE,) if args.demo_build == "user" else ()


def _ui(args: argparse.Namespace, port: int, serial: str) -> int:
    from droidtrack.sources.live import LiveSource
    from droidtrack.tui.app import run_top
    src = LiveSource(argparse.Namespace(serial=serial, adb_port=port, adb_host="127.0.0.1", su="auto", demo=False),
                     packages=_packages(args), dumpsys=bool(_packages(args)))
    try:
        return run_top(src, interval=args.interval)
    finally:
        src.close()


def _tables(args: argparse.Namespace, port: int, serial: str) -> int:
    from droidtrack.model.account import account
    from droidtrack.present import table
    from droidtrack.sources import SourceError
    from droidtrack.sources.live import LiveSource
    src_args = argparse.Namespace(serial=serial, adb_port=port, adb_host="127.0.0.1", su="auto", demo=False)
    src = LiveSource(src_args, packages=_packages(args), dumpsys=bool(_packages(args)))
    try:
        for i in range(args.count):
            if i:
                time.sleep(args.interval)
            try:
                got = src.collect()
            except SourceError as e:
                print(f"droidtrack: {e}", file=sys.stderr)
                return e.exit_code
            snap = got.snapshot
            print(f"── demo snapshot {i + 1}/{args.count} " + "─" * 40)
            print(table.render(snap, account(snap), top=args.top), flush=True)
    finally:
        src.close()
    return 0
