"""`droidtrack report`: one zip to attach to a bug (HTML page, Markdown summary, JSON, raw data)."""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from droidtrack.commands import add_command
from droidtrack.present import outfile
from droidtrack.sources import SourceError, add_source_arguments, source_from_args, source_inputs

MODEL_IN_NAME = 48     # characters of the device model in the default file name (a device string: any length)

EPILOG = """\
what the zip holds:
  report.html       open in any browser: totals per tag and exporter, top processes with their
                    buffers, kernel-only buffers, reconciliation, provenance; for a recording also
                    charts over time and leak suspects. Self-contained: loads nothing from the network.
  summary.md        paste into the bug tracker (GitHub/GitLab Markdown)
  snapshot.json     the snapshot (schema droidtrack.snapshot/1)
  raw/...           the raw collector stream(s), the recording, or the bugreport sections read
  provenance.json   device, build, kernel, Android version, sources read and missing, root, version

examples:
  droidtrack report                                  the connected device
  droidtrack report --demo -o demo.zip               the built-in simulated phone
  droidtrack report --bugreport bugreport-*.zip      an `adb bugreport` zip someone attached
  droidtrack report --replay camera-leak.dtr         a recording: charts over time, leak suspects
  droidtrack report --capture phone.dtc --redact     names replaced by pseudonyms, for reports
                                                     that leave the company (see docs/report.md)
  droidtrack report --analyze bufinfo.txt dmabuf_dump.txt    text pasted into an issue
  droidtrack report --report leak.zip --redact       a report you received, redacted to pass it on
                                                     (top/snapshot/check --report ZIP read one too)

exit codes: 0 the report was written, 2 nothing could be read or the zip could not be written, or
            the snapshot is incomplete (a cut stream: the zip is written and says so)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "report", EPILOG, "write a zip to attach to a bug: HTML page, Markdown summary, JSON, raw data",
                    "Collect a snapshot (or read a recording, a bugreport, a capture, pasted text) and "
                    "write one zip with everything a bug needs: a self-contained HTML page, a Markdown "
                    "summary to paste, the JSON snapshot, the raw input and where it all came from.")
    add_source_arguments(p)
    p.add_argument("--analyze", nargs="+", metavar="FILE",
                   help="text pasted from a device (bufinfo, dmabuf_dump, dumpsys meminfo, ...) instead of a device")
    p.add_argument("-o", "--output", metavar="ZIP",
                   help="where to write the zip (default: droidtrack-report-<model>-<time>.zip here)")
    p.add_argument("--redact", action="store_true",
                   help="replace package, process and buffer names and the serial with stable pseudonyms "
                        "(keyed HMAC); raw streams are left out")
    p.add_argument("--redact-salt", metavar="TEXT",
                   help="the HMAC key for --redact (default: random per report). Give the same salt to get the "
                        "same pseudonyms in several reports; keep it secret")
    p.add_argument("--redact-map", metavar="FILE",
                   help="with --redact: also write the pseudonym -> real name table to FILE (kept out of the zip)")
    p.add_argument("--title", help="the report's title (default: droidtrack report: <device model>)")
    p.add_argument("--top", type=int, default=25, metavar="N", help="processes shown with their buffers (default 25)")
    p.set_defaults(func=run)


def _err(msg: str) -> int:
    print(f"droidtrack: {msg}", file=sys.stderr)
    return 2


def _collect(args: argparse.Namespace):
    """-> (snapshots, raws [(name, bytes)], notes, source label)"""
    if args.analyze:
        # the same reading as `droidtrack analyze` (droidtrack.ingest.paste), then a report of its snapshot
        from droidtrack.ingest.paste import AnalyzeError, analyze
        from droidtrack.model.tags import rules_from_args
        inputs = []
        for f in args.analyze:
            try:
                inputs.append((f, sys.stdin.buffer.read() if f == "-" else Path(f).read_bytes()))
            except OSError as e:
                raise SourceError(f"cannot read {f}: {e.strerror or e}") from None
        try:
            snap, pieces = analyze(inputs, rules=rules_from_args(args))
        except AnalyzeError as e:
            raise SourceError(str(e)) from None
        raws = [(Path(f).name if f != "-" else "stdin.txt", data) for f, data in inputs]
        notes = ["built from pasted text (" + ", ".join(f"{pc.label}: {pc.fmt}" for pc in pieces)
                 + "): only what that text shows is known"]
        return [snap], raws, notes, "analyze"
    src = source_from_args(args)
    try:
        if callable(getattr(src, "at", None)) and hasattr(src, "samples"):
            # a recording, or a report zip read again (its recording or streams, else its snapshot)
            snaps = [src.at(i).snapshot for i in range(len(src))]
            lifetimes = getattr(src, "lifetimes", None)
            args._lifetimes = lifetimes() if callable(lifetimes) else None
            raw_inputs = getattr(src, "raw_inputs", None)
            name = Path(src.path).name
            if callable(raw_inputs):
                return snaps, raw_inputs(), [f"made from the report {name}"], f"report:{name}"
            return snaps, [(name, Path(src.path).read_bytes())], [], f"replay:{name}"
        got = src.collect()
        raws = []
        notes: list[str] = []
        if not got.complete:
            notes.append(f"incomplete snapshot, it does not stand for the device: {got.incomplete}")
            args._incomplete = got.incomplete
        if got.raw is not None:
            raws.append(("collector.stream", got.raw))
        excerpt = getattr(src, "excerpt", None)
        if callable(excerpt):
            raws.append(("bugreport-sections.txt", excerpt()))
            notes.append("built from an adb bugreport: which process holds a buffer comes from dmabuf_dump, "
                         "which cannot tell fd from mapping (fd-only and mapped are not known)")
        return [got.snapshot], raws, notes, getattr(src, "label", "") or ""
    finally:
        src.close()


def _default_name(snap) -> str:
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", snap.device.model or "device").strip("-")
    model = model[:MODEL_IN_NAME].strip("-.") or "device"
    return f"droidtrack-report-{model}-{time.strftime('%Y%m%d-%H%M%S')}.zip"


def run(args: argparse.Namespace) -> int:
    from droidtrack.report import Redactor, write_report
    inputs = source_inputs(args) + list(args.analyze or [])
    outfile.refuse_collisions([("report", args.output), ("redaction map", args.redact_map)], inputs)
    try:
        snaps, raws, notes, label = _collect(args)
    except SourceError as e:
        return _err(str(e))
    if not snaps:
        return _err("the source gave no snapshot")
    last = snaps[-1]
    if not last.buffers and not last.processes:
        print("droidtrack: warning: nothing could be read from this source; the report says why",
              file=sys.stderr)
    redactor = Redactor(args.redact_salt) if (args.redact or args.redact_salt) else None
    out = Path(args.output) if args.output else Path(_default_name(last))
    try:
        with outfile.staged_path(out, inputs=inputs, what="report") as tmp:
            res = write_report(tmp, snaps, raws=raws, notes=notes, redactor=redactor, title=args.title,
                               source_label=label, top_n=args.top, lifetimes=getattr(args, "_lifetimes", None))
    except OSError as e:
        return _err(f"cannot write {out}: {e.strerror or e}")
    if redactor is not None and args.redact_map:
        with outfile.open_output(args.redact_map, inputs=inputs, what="redaction map") as f:
            for real, pseudo in sorted(redactor.mapping.items(), key=lambda kv: kv[1]):
                f.write(f"{pseudo}\t{real!r}\n")
    print(f"wrote {out} ({', '.join(res.members)})")
    for o in res.omitted:
        print(f"  left out: {o}")
    print("  attach the zip to the bug; paste summary.md (inside the zip) into the bug's description")
    if getattr(args, "_incomplete", None):
        print(f"droidtrack: the snapshot is incomplete ({args._incomplete}); the report says so", file=sys.stderr)
        return 2
    return 0
