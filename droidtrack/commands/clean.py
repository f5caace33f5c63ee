"""`droidtrack clean`: remove what droidtrack put on the device (/data/local/tmp/droidtrack)."""
from __future__ import annotations

import argparse
import sys

from droidtrack.commands import add_command
from droidtrack.sources import add_file_source_arguments, adb, file_source

EPILOG = f"""\
droidtrack copies one file to the device, {adb.DEVICE_COLLECTOR}, the first time it
collects (and again only when droidtrack's version of it changes). Its temporary files are removed
after every snapshot. This command removes the directory too; the next snapshot copies it again.

examples:
  droidtrack clean                  the only connected device
  droidtrack clean -s R5CT31ABCDE   one of several devices

exit codes: 0 removed (or nothing was there), 2 the device could not be reached
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "clean", EPILOG, f"remove droidtrack's collector from the device ({adb.DEVICE_DIR})",
                    "Remove everything droidtrack left on the device.")
    adb.add_device_arguments(p)
    add_file_source_arguments(p.add_argument_group("other sources (nothing to clean: said plainly)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "demo", False):
            print("droidtrack: the demo device is thrown away at exit; nothing to clean", file=sys.stderr)
            return 0
        other = file_source(args)
        if other is not None:
            opt, val = other
            why = ("the collector runs on a --root tree from a private temporary directory, removed after "
                   "every snapshot, and writes nothing into the tree" if opt == "--root"
                   else "droidtrack only reads that file")
            print(f"droidtrack: {opt} {val}: nothing to clean: {why}", file=sys.stderr)
            return 0
        target = adb.target_from_args(args)
        serial, removed = adb.clean(target)
    except adb.AdbError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    if removed:
        print(f"{serial}: removed {adb.DEVICE_DIR}")
    else:
        print(f"{serial}: nothing to remove ({adb.DEVICE_DIR} is not there)")
    return 0
