"""`droidtrack export REC`: a recording as CSV or as a Perfetto trace."""
from __future__ import annotations

import argparse
import sys

from droidtrack.history.recording import RecordingError, open_recording

EPILOG = """\
examples:
  droidtrack export rec.dtr --csv rec.csv             one row per sample and process/tag/exporter
  droidtrack export rec.dtr --perfetto rec.json       open in https://ui.perfetto.dev (or chrome://tracing)
  droidtrack export rec.dtr --csv - | head            "-" writes to standard output

`droidtrack record --csv FILE --perfetto FILE` writes the same files when the recording ends.
Formats: docs/ci.md ("Exports").

exit codes: 0 written, 2 the recording could not be read or a file not written
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a recording as CSV or a Perfetto trace",
                       description="Export a recording made with `droidtrack record`.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording", metavar="REC", help="a recording (droidtrack.recording/1)")
    p.add_argument("--csv", metavar="FILE", help="write the tidy CSV here ('-' for standard output)")
    p.add_argument("--perfetto", metavar="FILE", help="write a JSON trace-event file here")
    p.add_argument("--rules", metavar="YAML", help="your own tag rules")
    p.set_defaults(func=run)


def export(path: str, *, csv_path: str | None, perfetto_path: str | None, rules=None) -> list[str]:
    """Write the exports; returns what was written (for messages). Raises RecordingError/OSError."""
    from droidtrack.present import csv_out
    from droidtrack.present import trace
    rec = open_recording(path)
    done = []
    for target, mod in ((csv_path, csv_out), (perfetto_path, trace)):
        if not target:
            continue
        if target == "-":
            mod.write(rec.snapshots(rules), sys.stdout)
        else:
            with open(target, "w", encoding="utf-8", newline="") as f:
                mod.write(rec.snapshots(rules), f)
        done.append(target)
    return done


def run(args: argparse.Namespace) -> int:
    if not args.csv and not args.perfetto:
        print("droidtrack export: say what to write: --csv FILE and/or --perfetto FILE", file=sys.stderr)
        return 2
    rules = None
    if args.rules:
        from droidtrack.model.tags import load_rules
        rules = load_rules(args.rules)
    try:
        rec = open_recording(args.recording)
        for p in rec.problems:
            print(f"droidtrack: {args.recording}: {p.message}", file=sys.stderr)
        done = export(args.recording, csv_path=args.csv, perfetto_path=args.perfetto, rules=rules)
    except RecordingError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise          # `export --csv - | head`: the CLI treats a reader that left as success
    except OSError as e:
        print(f"droidtrack: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    for d in done:
        if d != "-":
            print(f"wrote {d} ({len(rec)} samples)", file=sys.stderr)
    return 0
