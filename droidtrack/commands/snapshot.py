"""`droidtrack snapshot`: one snapshot of every dma-buf, printed as a table or as JSON."""
from __future__ import annotations

import argparse
import sys

from droidtrack.commands import add_command
from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.present import outfile
from droidtrack.present import table
from droidtrack.sources import SourceError, add_source_arguments, source_from_args, source_inputs

EPILOG = """\
examples:
  droidtrack snapshot                               the connected device (adb)
  droidtrack snapshot --demo                        the built-in simulated phone
  droidtrack snapshot --root fixtures/a13-5.15      a device-root tree (pulled /proc and /sys, or a fixture)
  droidtrack snapshot --format json -o snap.json    machine-readable (schema droidtrack.snapshot/1, see README)
  droidtrack snapshot --save-capture phone.dtc      keep the raw collector stream ...
  droidtrack snapshot --capture phone.dtc           ... and read it again later, anywhere

exit codes: 0 a snapshot was made (what could not be read is listed under sources/problems),
            2 nothing could be read (no device, unreadable input), or the stream was cut before
              every section listing buffers and holders arrived (a disconnect, a stall: what
              arrived is still printed, marked truncated under sources.stream)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "snapshot", EPILOG, "one snapshot: every dma-buf, per process, with exact totals",
                    "Collect one snapshot and account for every byte: per-process RSS, PSS, "
                    "fd-only (in no kernel counter), mapped, kernel-only buffers, totals per tag "
                    "and exporter, and a reconciliation with what the device reports.")
    add_source_arguments(p)
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--save-capture", metavar="FILE", help="also save the raw collector stream to FILE")
    p.add_argument("--all-processes", action="store_true",
                   help="JSON: list every process, not only those holding buffers")
    p.add_argument("--top", type=int, default=25, metavar="N", help="table: show the N biggest processes (default 25)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from droidtrack.model.coverage import package_lines
    # before collecting: an output that is an input would be destroyed
    outfile.refuse_collisions([("output", args.output), ("capture to save", args.save_capture)],
                              source_inputs(args))
    try:
        src = source_from_args(args)
    except SourceError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    try:
        got = src.collect()
    except SourceError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return e.exit_code
    finally:
        src.close()
    snap = got.snapshot
    if args.save_capture:
        if got.raw is None:
            print("droidtrack: this source has no raw collector stream to save (--save-capture ignored)",
                  file=sys.stderr)
        else:
            outfile.write_bytes(args.save_capture, got.raw, inputs=source_inputs(args), what="capture to save")
    acc = account(snap)
    if args.format == "json":
        text = schema.dumps(snap, acc, all_processes=args.all_processes)
    else:
        text = table.render(snap, acc, top=args.top)
    if args.output:
        outfile.write_text(args.output, text, inputs=source_inputs(args))
    else:
        sys.stdout.write(text)
    if not got.complete:
        print(f"droidtrack: incomplete snapshot, it does not stand for the device: {got.incomplete} "
              "(what arrived is shown, marked truncated)", file=sys.stderr)
        return 2
    if got.truncated:
        print("droidtrack: warning: the stream was cut after every section that lists buffers and holders "
              "had arrived; only secondary figures are missing (see sources.stream)", file=sys.stderr)
    if not snap.buffers and not snap.processes:
        print("droidtrack: nothing could be read from this source", file=sys.stderr)
        return 2
    lines, nothing = package_lines(snap, getattr(args, "package", None) or ())
    for line in lines:
        print(f"droidtrack: --package {line}", file=sys.stderr)
    if nothing:
        print("droidtrack: nothing could be measured for the packages asked for", file=sys.stderr)
        return 2
    return 0
