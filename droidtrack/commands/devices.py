"""`droidtrack devices`: every device the adb server knows, in every state, with what to do next."""
from __future__ import annotations

import argparse
import json
import sys

from droidtrack.commands import add_command
from droidtrack.present.text import safe
from droidtrack.sources import add_file_source_arguments, adb, file_source

EPILOG = """\
Unlike many tools, this lists devices that are not ready too: `unauthorized` (accept the prompt
on the phone), `offline` (replug), `no permissions` (udev rules), recovery, sideload...

examples:
  droidtrack devices                       the local adb server (port 5037, or $ANDROID_ADB_SERVER_PORT)
  droidtrack devices -H buildhost -P 5037  an adb server on another machine
  droidtrack devices --json                machine-readable: [{"serial", "state", "hint", ...}]
  droidtrack devices --demo                the built-in simulated phone, as adb lists it

exit codes: 0 the list was printed (even if empty), 2 no adb server could be reached
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "devices", EPILOG, "list devices the adb server knows (also unauthorized/offline, with hints)",
                    "List every device the adb server knows, whatever its state, with a one-line "
                    "hint for each state that needs something from you.")
    adb.add_device_arguments(p)
    add_file_source_arguments(p.add_argument_group("other sources (not devices: named, with what to do instead)"))
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
    other = file_source(args)
    if other is not None:
        opt, val = other
        print(f"droidtrack devices: {opt} {val} is a file, not a device on an adb server: there is nothing to "
              f"list. Read it with `droidtrack snapshot {opt} {val}` (or top, report, check)", file=sys.stderr)
        return 2
    try:
        if getattr(args, "demo", False):
            from droidtrack.sim.demo import DemoError, start_demo_device
            try:
                with start_demo_device(build=getattr(args, "demo_build", "userdebug")) as (port, _serial):
                    devices = adb.list_devices("127.0.0.1", port, start_server=False)
            except DemoError as e:
                print(f"droidtrack: {e}", file=sys.stderr)
                return e.exit_code
        else:
            target = adb.target_from_args(args)
            devices = adb.list_devices(target.host, target.port)
    except adb.AdbError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    if args.serial:
        devices = [d for d in devices if d.serial == args.serial]
    if args.json:
        json.dump([{"serial": d.serial, "state": d.state, "hint": d.hint, **{k: v for k, v in d.props.items()}}
                   for d in devices], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(devices))
    return 0
