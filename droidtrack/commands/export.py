"""`droidtrack export REC`: a recording as CSV or as a Perfetto trace."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from droidtrack.commands import add_command
from droidtrack.history.recording import RecordingError, open_recording

EPILOG = """\
examples:
  droidtrack export rec.dtr --csv rec.csv             one row per sample and process/tag/exporter
  droidtrack export rec.dtr --perfetto rec.pftrace    Perfetto's protobuf trace: open in https://ui.perfetto.dev
  droidtrack export rec.dtr --perfetto rec.json       a FILE ending in .json: JSON trace events (also chrome://tracing)
  droidtrack export rec.dtr --csv - | head            "-" writes to standard output

`droidtrack record --csv FILE --perfetto FILE` writes the same files when the recording ends.
Formats: docs/ci.md ("Exports").

Outputs are written to a temporary file and renamed into place; an output that is the recording
itself (or a link to it) is refused.

exit codes: 0 written, 2 the recording could not be read, holds no valid sample, or a file not written
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "export", EPILOG, "a recording as CSV or a Perfetto trace",
                    "Export a recording made with `droidtrack record`.")
    p.add_argument("recording", metavar="REC", help="a recording (droidtrack.recording/2, or /1)")
    p.add_argument("--csv", metavar="FILE", help="write the tidy CSV here ('-' for standard output)")
    p.add_argument("--perfetto", metavar="FILE", help="write a Perfetto trace here: protobuf (counter tracks per "
                   "process and tag, a slice per buffer's lifetime), or JSON trace events when FILE ends in .json")
    from droidtrack.model.tags import add_rules_arguments
    add_rules_arguments(p, "your own tag rules")
    p.set_defaults(func=run)


class _Counted:
    """The recording's valid samples, one at a time, counting them (a damaged one is skipped)."""

    def __init__(self, rec, rules):
        self.rec, self.rules, self.n = rec, rules, 0

    def __iter__(self):
        for snap in self.rec.snapshots(self.rules):
            self.n += 1
            yield snap


@dataclass(frozen=True)
class Written:
    """One export written: where, how many samples, and why the samples left out were."""
    target: str
    samples: int
    skipped: tuple[str, ...] = ()

    def describe(self) -> str:
        out = f"{self.target} ({self.samples} samples"
        if self.skipped:
            out += f"; {len(self.skipped)} skipped: " + "; ".join(self.skipped[:3])
        return out + ")"


def export(path: str, *, csv_path: str | None, perfetto_path: str | None, rules=None) -> list[Written]:
    """Write the exports; returns what was written (for messages), with the samples that could not be
    read and were left out. Raises RecordingError (also when no sample is valid: nothing is written
    then) and OutputError (an output that is the recording)."""
    from droidtrack.present import csv_out, outfile, trace
    outfile.refuse_collisions((("CSV", csv_path), ("trace", perfetto_path)), inputs=[path])
    rec = open_recording(path)
    if not rec.samples:
        raise RecordingError(f"{path}: the recording holds no complete sample")
    done = []
    json_trace = bool(perfetto_path) and perfetto_path.lower().endswith(".json")
    for target, write, what, mode in ((csv_path, csv_out.write, "CSV", "w"),
                                      (perfetto_path, trace.write if json_trace else trace.write_proto, "trace",
                                       "w" if json_trace else "wb")):
        if not target:
            continue
        snaps = _Counted(rec, rules)
        seen = len(rec.problems)
        if target == "-":
            write(snaps, sys.stdout if mode == "w" else sys.stdout.buffer)
        else:
            try:
                with outfile.open_output(target, mode, inputs=[path], what=what,
                                         **({"newline": ""} if mode == "w" else {})) as f:
                    write(snaps, f)
                    if not snaps.n:
                        raise _NoSample
            except _NoSample:
                pass
        if not snaps.n:
            detail = "; ".join(p.message for p in rec.problems[-3:])
            raise RecordingError(f"{path}: no sample of the recording could be read"
                                 + (f" ({detail})" if detail else "") + "; nothing written")
        done.append(Written(target, snaps.n, tuple(p.message for p in rec.problems[seen:])))
    return done


class _NoSample(Exception):
    """Leaves open_output's block abnormally, so that the staged file is dropped."""


def run(args: argparse.Namespace) -> int:
    if not args.csv and not args.perfetto:
        print("droidtrack export: say what to write: --csv FILE and/or --perfetto FILE", file=sys.stderr)
        return 2
    from droidtrack.model.tags import rules_from_args
    rules = rules_from_args(args, optional=True)
    from droidtrack.present.outfile import OutputError
    try:
        rec = open_recording(args.recording)
        for p in rec.problems:
            print(f"droidtrack: {args.recording}: {p.message}", file=sys.stderr)
        done = export(args.recording, csv_path=args.csv, perfetto_path=args.perfetto, rules=rules)
    except (RecordingError, OutputError) as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise          # `export --csv - | head`: the CLI treats a reader that left as success
    except OSError as e:
        print(f"droidtrack: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    for w in done:
        if w.target != "-":
            print(f"wrote {w.describe()}", file=sys.stderr)
        elif w.skipped:
            print(f"droidtrack: {len(w.skipped)} sample(s) skipped: " + "; ".join(w.skipped[:3]), file=sys.stderr)
    return 0
