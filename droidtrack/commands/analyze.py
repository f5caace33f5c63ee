"""`droidtrack analyze FILE…`: what pasted text of one source (or a capture) says, as a snapshot."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.present import table
from droidtrack.ingest.paste import SUPPORTED, AnalyzeError, analyze
from droidtrack.model.tags import load_rules

EPILOG = "formats it recognises (detected from the text itself):\n" + "\n".join(
    f"  {k:<16} {v}" for k, v in SUPPORTED.items()) + """

Pasted copies are fine: console prompts, tabs turned into spaces, text wrapped in Java/C string
literals, cut-off rows. What was skipped is listed under problems. Several files combine into one
snapshot (e.g. a bufinfo and a dmabuf_dump of the same moment). '-' reads standard input.

examples:
  droidtrack analyze bufinfo.txt
  adb shell su 0 dmabuf_dump | droidtrack analyze -
  droidtrack analyze --as maps --pid 1234 maps.txt --format json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="read pasted text of one source (bufinfo, dmabuf_dump, meminfo, ...)",
                       description="Detect which source a saved or pasted text came from, parse it, and print "
                                   "the snapshot it allows.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="text files ('-' for standard input)")
    p.add_argument("--as", dest="force", metavar="FORMAT", help="skip detection: the text is this format")
    p.add_argument("--pid", type=int, help="the process a fdinfo or maps text belongs to")
    p.add_argument("--rules", metavar="YAML", help="your own tag rules")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = []
    for f in args.files:
        try:
            data = sys.stdin.buffer.read() if f == "-" else Path(f).read_bytes()
        except OSError as e:
            print(f"droidtrack: cannot read {f}: {e.strerror}", file=sys.stderr)
            return 2
        inputs.append((f, data))
    try:
        snap, pieces = analyze(inputs, rules=load_rules(args.rules), force=args.force, pid=args.pid)
    except AnalyzeError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    for pc in pieces:
        print(f"{pc.label}: read as {pc.fmt}", file=sys.stderr)
    acc = account(snap)
    text = schema.dumps(snap, acc) if args.format == "json" else table.render(snap, acc)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
