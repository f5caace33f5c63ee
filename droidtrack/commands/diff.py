"""`droidtrack diff A B`: what changed between two snapshots or two points of a recording."""
from __future__ import annotations

import argparse
import json
import sys

from droidtrack.commands import add_command
from droidtrack.history.compare import LoadError, diff, diff_to_dict, load_snapshot, split_spec
from droidtrack.present import outfile
from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.history.recording import RecordingError
from droidtrack.sources import SourceError

EPILOG = """\
A and B are each one of:
  snap.json          a snapshot saved with `droidtrack snapshot --format json`
  phone.dtc          a raw capture saved with `droidtrack snapshot --save-capture`
  rec.dtr@N          sample N of a recording (0 is the first, -1 the last; plain rec.dtr = the last)
  report.zip[@N]     a zip written by `droidtrack report` (@N: a sample of the recording in it)

examples:
  droidtrack diff before.json after.json
  droidtrack diff rec.dtr@0 rec.dtr@-1                 first vs last sample of a recording
  droidtrack diff rec.dtr@3 rec.dtr@-1 --format json

buffers are matched by inode (stable while a buffer lives); buffers without an inode are matched by
(exporter, name, size). Processes are matched by pid and name, so a reused pid is a new process.

exit codes: 0 the diff was printed, 2 an input could not be read
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "diff", EPILOG, "what appeared, vanished and grew between two snapshots",
                    "Compare two snapshots: buffers that appeared or vanished, and growth per "
                    "tag, exporter, process and owner.")
    p.add_argument("a", metavar="A", help="the earlier snapshot (file, or rec.dtr@N)")
    p.add_argument("b", metavar="B", help="the later snapshot")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--top", type=int, default=15, metavar="N", help="rows per section (default 15)")
    from droidtrack.model.tags import add_rules_arguments
    add_rules_arguments(p, "your own tag rules (applied to both sides)")
    p.set_defaults(func=run)


def render(d, top: int = 15) -> str:
    out = [f"A: {safe(d.a)}", f"B: {safe(d.b)}" + (f"   ({d.seconds:.0f} s later)" if d.seconds else ""), ""]
    t = d.total
    out.append(f"total: {human_size(t.before)} -> {human_size(t.after)} ({human_size(t.delta, signed=True)})")
    out.append(f"buffers: {len(d.appeared)} appeared ({human_size(d.appeared_bytes, signed=True)}), "
               f"{len(d.vanished)} vanished ({human_size(-d.vanished_bytes, signed=True)})")

    def section(title, changes):
        rows = [c for c in changes if c.delta][:top]
        if not rows:
            return
        out.append("")
        out.append(title)
        w = max(len(safe(c.key)) for c in rows)
        for c in rows:
            out.append(f"  {safe(c.key):<{w}}  {human_size(c.delta, signed=True):>10}  "
                       f"({human_size(c.before)} -> {human_size(c.after)})")
    section("by tag:", d.by_tag)
    section("by exporter:", d.by_exporter)
    section("by process (RSS):", d.by_process)
    section("by owner (charged bytes: whose they are, docs/owners.md):", d.by_owner)

    def bufs(title, refs):
        if not refs:
            return
        out.append("")
        out.append(f"{title} ({len(refs)}, largest first):")
        for r in refs[:top]:
            who = ", ".join(safe(h) for h in r.holders) or "kernel-only"
            nm = f" {safe(r.name)!r}" if r.name else ""
            own = f" owner {safe(r.owner)}" if r.owner and r.owner not in ("kernel", "unknown") else ""
            out.append(f"  {safe(r.key):<14} {human_size(r.size):>9}  {safe(r.tag)} {safe(r.exporter or '?')}{nm}  [{who}]{own}")
        if len(refs) > top:
            out.append(f"  … {len(refs) - top} more")
    bufs("appeared", d.appeared)
    bufs("vanished", d.vanished)
    return "\n".join(out) + "\n"


def _load(spec: str, rules):
    """load_snapshot, and a droidtrack report zip too (ZIP@N picks a sample of the recording in it)."""
    from droidtrack.sources.reportzip import ReportZipSource, is_report_zip
    path, idx = split_spec(spec)
    if not is_report_zip(path):
        return load_snapshot(spec, rules)
    src = ReportZipSource(path, rules=rules)
    try:
        return src.at(-1 if idx is None else idx).snapshot
    finally:
        src.close()


def run(args: argparse.Namespace) -> int:
    inputs = [args.a.rsplit("@", 1)[0] if "@" in args.a else args.a,
              args.b.rsplit("@", 1)[0] if "@" in args.b else args.b, args.a, args.b, args.rules, args.owner_rules]
    outfile.refuse_inputs(args.output, inputs)
    from droidtrack.model.tags import rules_from_args
    rules = rules_from_args(args, optional=True)
    try:
        a = _load(args.a, rules)
        b = _load(args.b, rules)
    except (LoadError, RecordingError, SourceError) as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    d = diff(a, b, a_label=args.a, b_label=args.b)
    text = (json.dumps(diff_to_dict(d), indent=2, ensure_ascii=True) + "\n") if args.format == "json" \
        else render(d, args.top)
    if args.output:
        outfile.write_text(args.output, text, inputs=inputs)
    else:
        sys.stdout.write(text)
    return 0
