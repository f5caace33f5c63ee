"""`droidtrack devices`: every device the adb server knows, in every state, with what to do next."""
from __future__ import annotations

import argparse
import json
import sys

from droidtrack.present.text import safe
from droidtrack.sources import adb

EPILOG = """\
Unlike many tools, this lists devices that are not ready too: `unauthorized` (accept the prompt
on the phone), `offline` (replug), `no permissions` (udev rules), recovery, sideload...

examples:
  droidtrack devices                       the local adb server (port 5037, or $ANDROID_ADB_SERVER_PORT)
  droidtrack devices -H buildhost -P 5037  an adb server on another machine
  droidtrack devices --json                machine-readable: [{"serial", "state", "hint", ...}]

exit codes: 0 the list was printed (even if empty), 2 no adb server could be reached
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list devices the adb server knows (also unauthorized/offline, with hints)",
                       description="List every device the adb server knows, whatever its state, with a one-line "
                                   "hint for each state that needs something from you.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-H", "--adb-host", metavar="HOST", default=None,
                   help="host of the adb server (default: $ANDROID_ADB_SERVER_ADDRESS or localhost)")
    p.add_argument("-P", "--adb-port", metavar="PORT", type=int, default=None,
                   help="port of the adb server (default: $ANDROID_ADB_SERVER_PORT or 5037)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def render(devices: list[adb.DeviceEntry]) -> str:
    if not devices:
        return ("no devices. Enable USB debugging (Settings > About phone > tap Build number 7 times, then "
                "Developer options > USB debugging) and plug the phone in, or `adb connect HOST:PORT`.\n")
    rows = [(safe(d.serial), safe(d.state), safe(d.description), safe(d.hint)) for d in devices]
    w0 = max(len("SERIAL"), *(len(r[0]) for r in rows))
    w1 = max(len("STATE"), *(len(r[1]) for r in rows))
    w2 = max(len("MODEL"), *(len(r[2]) for r in rows))
    out = [f"{'SERIAL':<{w0}}  {'STATE':<{w1}}  {'MODEL':<{w2}}  WHAT NEXT"]
    for r in rows:
        out.append(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        target = adb.target_from_args(args)
        devices = adb.list_devices(target.host, target.port)
    except adb.AdbError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    if args.json:
        json.dump([{"serial": d.serial, "state": d.state, "hint": d.hint, **{k: v for k, v in d.props.items()}}
                   for d in devices], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(devices))
    return 0
