"""`droidtrack check --budget budgets.yaml`: gate CI on dma-buf budgets (docs/ci.md)."""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import os
import sys
import time

from droidtrack.commands import add_command
from droidtrack.ci.budget_file import BudgetError, BudgetFile, load_budgets
from droidtrack.ci.budgets import Report, evaluate, report_to_dict
from droidtrack.history.compare import LoadError, load_snapshot
from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.history.recording import RecordingError
from droidtrack.sources import SourceError, add_source_arguments, source_from_args

EPILOG = """\
examples:
  droidtrack check --budget budgets.yaml                          the connected device
  droidtrack check --budget budgets.yaml --junit out.xml --markdown summary.md
  droidtrack check --budget budgets.yaml --baseline before.json   growth against a saved snapshot
  droidtrack check --budget budgets.yaml --replay run.dtr         every sample of a recording, growth
                                                                  over it, leak suspects
  droidtrack check --budget budgets.yaml --all-devices            every device of the adb server, at once
  droidtrack check --budget budgets.yaml --demo                   try it on the simulated phone
  droidtrack check --budget budgets.yaml --package com.example.app
                                        total/tags/exporters measured on that app (run-as on a user build)

budgets.yaml:
  version: 1
  min_coverage: 0.9
  total: 64MiB
  tags: {camera: 8MiB, gl: 32MiB}
  exporters: {system: 48MiB}
  processes: {"media_*": 16MiB}
  owners: {"com.example.*": 64MiB}
  growth: {total: 4MiB}
  leaks: {max_suspects: 0, min_bytes: 1MiB}
(the full format, coverage and leak suspects: docs/ci.md)

exit codes: 0 every budget holds, 1 a budget was exceeded, 2 could not measure (no device,
unauthorized, disconnected, collector failure, coverage below min_coverage, bad budget file)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "check", EPILOG, "CI gate: exit 1 when a dma-buf budget is exceeded",
                    "Measure a device (or a capture, a recording, ...) against a budget file: "
                    "per tag, exporter, process/package, owner and total, absolute or as growth, plus "
                    "leak suspects. Writes a table, and optionally JUnit, JSON and Markdown.")
    p.add_argument("--budget", "-b", metavar="YAML", required=True, help="the budget file")
    p.add_argument("--baseline", metavar="SNAP",
                   help="for growth budgets: a capture, a snapshot JSON, or a recording (rec.dtr@N, default its last sample)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per budget, per device)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON (droidtrack.check/1)")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (unknown tags, patterns matching nothing) as failures")
    p.add_argument("--all-devices", action="store_true",
                   help="check every device of the adb server(s) concurrently: one report per device and a summary")
    p.add_argument("--adb-server", action="append", metavar="HOST:PORT", default=[],
                   help="with --all-devices: an adb server to ask (repeat for several; default: the usual one)")
    p.add_argument("-j", "--jobs", type=int, default=16, metavar="N",
                   help="with --all-devices: devices measured at once (default 16)")
    add_source_arguments(p)
    p.set_defaults(func=run)


# ---- one device / one input ----------------------------------------------------------------

def check_source(bf: BudgetFile, args: argparse.Namespace, rules, baseline=None, label: str | None = None) -> Report:
    """Measure what args point at (any source) and evaluate the budgets. Never raises SourceError."""
    try:
        from droidtrack.sources import check_packages
        packages = check_packages(getattr(args, "package", None) or ())
        if getattr(args, "replay", None):
            from droidtrack.history.recording import open_recording
            rec = open_recording(args.replay)
            if not rec.samples:
                raise SourceError(f"{args.replay}: the recording holds no complete sample")
            # every sample, or the check cannot say the budgets held at every sample: one that
            # cannot be read (damaged, nested 5,000 deep) makes it unmeasurable (exit 2), by name
            snaps = [rec.snapshot(i, rules) for i in range(len(rec.samples))]
            lab = label or f"{snaps[-1].device.serial or args.replay} (replay of {args.replay})"
            rep = evaluate(bf, snaps, baseline=baseline, rules=rules, label=lab, packages=packages)
            rep.warnings += [f"recording: {p.message}" for p in rec.problems]
            return rep
        src = _source(args, rules)
        try:
            got = src.collect()
        finally:
            src.close()
        if not got.complete:     # a cut stream: what arrived does not stand for the device
            raise SourceError(f"incomplete snapshot: {got.incomplete}")
        snap = got.snapshot
    except (SourceError, RecordingError, LoadError) as e:
        return Report(label or _label_of_args(args), unmeasurable=f"could not measure: {e}")
    lab = label or _device_label(snap)
    return evaluate(bf, [snap], baseline=baseline, rules=rules, label=lab, packages=packages)


def _source(args, rules):
    """source_from_args, but a live device reuses the rules already loaded (16 devices would parse
    the rules file 16 times, under the GIL)."""
    if any(getattr(args, k, None) for k in ("root", "capture", "replay", "bugreport", "report_zip")):
        return source_from_args(args)
    from droidtrack.sources.live import LiveSource
    from droidtrack.sources import check_packages
    return LiveSource(args, rules=rules, dumpsys=bool(getattr(args, "dumpsys", False)),
                      fd_inodes=getattr(args, "fd_inodes", None) or "auto",
                      packages=check_packages(getattr(args, "package", None) or ()), focus=True)


def _device_label(snap) -> str:
    d = snap.device
    bits = [d.serial or snap.origin or "device"]
    if d.model:
        bits.append(f"({d.model})")
    return " ".join(bits)


def _label_of_args(args) -> str:
    for k in ("serial", "root", "capture", "replay", "bugreport"):
        v = getattr(args, k, None)
        if v:
            return str(v)
    return "demo" if getattr(args, "demo", False) else "device"


# ---- many devices --------------------------------------------------------------------------

def _servers(args) -> list[tuple[str, int, bool]]:
    """(host, port, start a server there if none answers): only the default server is started, as adb does."""
    out = []
    for s in args.adb_server:
        host, _, port = s.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise BudgetError(f"--adb-server {s!r}: expected HOST:PORT")
        out.append((host or "127.0.0.1", int(port), False))
    if not out:
        from droidtrack.sources import adb
        t = adb.target_from_args(args)      # -H/-P, else the environment, else localhost:5037
        out.append((t.host, t.port, True))
    return out


def list_all_devices(args) -> list[tuple[str, int, str, str]]:
    """(host, port, serial, state) of every device the adb server(s) list."""
    from droidtrack.sources import adb
    found = []
    for host, port, start in _servers(args):
        try:
            devs = adb.list_devices(host, port, start_server=start)
        except Exception as e:   # the server could not be reached: one unmeasurable "device"
            found.append((host, port, f"adb server {host}:{port}", f"unreachable ({e})"))
            continue
        for d in devs:
            found.append((host, port, d.serial, d.state))
    return found


def check_all_devices(bf: BudgetFile, args, rules, baseline=None) -> list[Report]:
    devices = list_all_devices(args)
    if not devices:
        return [Report("all devices", unmeasurable="could not measure: the adb server lists no device")]

    def one(dev) -> Report:
        host, port, serial, state = dev
        if state != "device":
            from droidtrack.sources.adb import STATE_HINTS
            hint = STATE_HINTS.get(state, "")
            return Report(serial, unmeasurable=f"could not measure: device is {state}" + (f" ({hint})" if hint else ""))
        a = copy.copy(args)
        a.all_devices = False
        a.demo = False
        a.serial = serial
        a.adb_host = host
        a.adb_port = port
        return check_source(bf, a, rules, baseline, label=None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        return list(ex.map(one, devices))


# ---- output --------------------------------------------------------------------------------

def render_table(reports: list[Report]) -> str:
    out = []
    for rep in reports:
        cov = f" · coverage {rep.coverage.describe()}" if rep.coverage else ""
        smp = f" · {rep.samples} samples" if rep.samples > 1 else ""
        foc = f" · {safe(rep.measured_for)}" if rep.packages else ""
        out.append(f"{safe(rep.label)}{foc}{smp}{cov}")
        if rep.results:
            w = max(len(safe(r.budget.id)) for r in rep.results)
            w = max(w, 6)
            out.append(f"  {'RESULT':<6}  {'BUDGET':<{w}}  {'MEASURED':>10}  {'ALLOWED':>10}  DETAIL")
            for r in rep.results:
                if r.budget.scope == "leaks":
                    m, a = ("-" if r.measured is None else str(r.measured)), str(r.allowed)
                else:
                    m, a = human_size(r.measured), human_size(r.allowed)
                st = {"pass": "ok", "fail": "FAIL", "skip": "skip"}.get(r.status, r.status)
                smp = f" (sample {r.sample})" if r.sample is not None and r.status == "fail" else ""
                out.append(f"  {st:<6}  {safe(r.budget.id):<{w}}  {m:>10}  {a:>10}  {safe(r.detail)}{smp}")
        for w_ in rep.warnings:
            out.append(f"  warning: {safe(w_)}")
        if rep.unmeasurable:
            out.append(f"  {safe(rep.unmeasurable)}")
        out.append(f"  => {rep.verdict}")
        out.append("")
    if len(reports) > 1:
        c = [r.exit_code for r in reports]
        out.append(f"summary: {len(reports)} devices: {c.count(0)} within budget, {c.count(1)} exceeded, "
                   f"{c.count(2)} could not be measured")
    return "\n".join(out).rstrip("\n") + "\n"


def overall_exit(reports: list[Report], strict: bool = False) -> int:
    if strict:
        for r in reports:
            r.strict = True
    codes = [r.exit_code for r in reports]
    if 1 in codes:
        return 1
    if 2 in codes:
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    from droidtrack.history.compare import split_spec
    from droidtrack.present import outfile
    from droidtrack.sources import source_inputs
    inputs = source_inputs(args) + [args.budget] + ([split_spec(args.baseline)[0]] if args.baseline else [])
    outfile.refuse_collisions([("JUnit report", args.junit), ("JSON report", args.json),
                               ("Markdown summary", args.markdown)], inputs)
    try:
        bf = load_budgets(args.budget)
    except BudgetError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    from droidtrack.model.owners import OwnerRulesError
    from droidtrack.model.tags import RulesError, rules_from_args
    try:
        rules = rules_from_args(args)
    except (RulesError, OwnerRulesError) as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    baseline = None
    if args.baseline:
        try:
            baseline = load_snapshot(args.baseline, rules)
        except (LoadError, RecordingError, SourceError) as e:
            print(f"droidtrack: --baseline: {e}", file=sys.stderr)
            return 2
    try:
        reports = (check_all_devices(bf, args, rules, baseline) if args.all_devices
                   else [check_source(bf, args, rules, baseline)])
    except BudgetError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - t0
    code = overall_exit(reports, args.strict)
    sys.stdout.write(render_table(reports))
    try:
        if args.junit:
            from droidtrack.present import junit
            outfile.write_text(args.junit, junit.dumps(reports, elapsed=elapsed), inputs=inputs, what="JUnit report")
        if args.json:
            doc = {"schema": "droidtrack.check/1", "budget_file": args.budget, "exit_code": code,
                   "devices": [report_to_dict(r) for r in reports]}
            outfile.write_text(args.json, json.dumps(doc, indent=2, ensure_ascii=True) + "\n", inputs=inputs,
                               what="JSON report")
        if args.markdown:
            from droidtrack.present import check_markdown as markdown
            # $GITHUB_STEP_SUMMARY collects several steps' output: append to it, overwrite anything else
            mode = "a" if args.markdown == os.environ.get("GITHUB_STEP_SUMMARY") else "w"
            with outfile.open_output(args.markdown, mode, inputs=inputs, what="Markdown summary") as f:
                f.write(markdown.render(reports))
    except OSError as e:
        print(f"droidtrack: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    return code
