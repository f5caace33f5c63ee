"""Budgets measured: a budget file (ci/budget_file.py) evaluated against snapshots or every sample
of a recording, with coverage, growth against a baseline and leak gates (docs/ci.md).

Every number is one of model/account.py's sums (per tag, exporter, owner, process group); this
module picks which sum a budget reads and compares it with the limit, and sums no bytes itself.

Coverage (min_coverage) is the fraction of the device's processes whose fd tables droidtrack could
read (`Process.fds_readable` true, among processes where reading was attempted). It is 0 when no
process was scanned, when a source named in `required_sources` is absent, denied or failed, and
when the collection was cut short (a disconnect mid-snapshot).

`check --package PKG` (evaluate's `packages`) measures the budgets on that app: `total`, `tags` and
`exporters` read the sums of the app's processes as one group (account.package_group: its package,
`pkg:service` and isolated processes, each buffer once, held bytes); `processes` and `owners` name
their subject already and are measured as without it. Where the app's processes were not all read
exactly (model/coverage.py's grade: not by run-as, root or the shell), the report warns: a budget
"within" on an app that could not be read is not a pass on real data (--strict fails it).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from droidtrack.ci.budget_file import Budget, BudgetFile
from droidtrack.model.account import Accounting, account, matching, package_group, process_groups
from droidtrack.model import Process, Snapshot
from droidtrack.model.units import human_size as format_size

# ---- coverage ------------------------------------------------------------------------------

OK_STATUSES = ("ok", "partial")


@dataclass(frozen=True)
class Coverage:
    value: float
    readable: int
    attempted: int
    reason: str = ""      # why it is 0 (or what is missing), for the report

    def describe(self) -> str:
        s = f"{self.value:.0%} ({self.readable}/{self.attempted} processes' fds readable)"
        return s + (f"; {self.reason}" if self.reason else "")


def collection_cut(snap: Snapshot) -> str | None:
    """Why this snapshot is known to be incomplete (a disconnect mid-collection), or None."""
    for k, s in snap.sources.items():
        if s.status == "truncated":
            return f"source {k} was cut off mid-read"
    for p in snap.problems:
        if p.source == "collector" and ("DONE marker" in p.message or "stream cut" in p.message):
            return f"the collector stream was cut ({p.message})"
    return None


def coverage(snap: Snapshot, required: tuple[str, ...] = ()) -> Coverage:
    attempted = [p for p in snap.processes.values() if p.fds_readable is not None]
    readable = sum(1 for p in attempted if p.fds_readable)
    reasons = []
    value = readable / len(attempted) if attempted else 0.0
    if not attempted:
        reasons.append("no process's fds were scanned")
    for r in required:
        st = snap.sources.get(r)
        if st is None or st.status not in OK_STATUSES:
            reasons.append(f"required source {r} is {st.status if st else 'absent'}")
            value = 0.0
    cut = collection_cut(snap)
    if cut:
        reasons.append(cut)
        value = 0.0
    return Coverage(value, readable, len(attempted), "; ".join(reasons))


# ---- evaluation ----------------------------------------------------------------------------

@dataclass
class Result:
    budget: Budget
    status: str                  # pass | fail | warn | skip
    measured: int | None
    allowed: int
    detail: str = ""
    sample: int | None = None    # recording sample where the worst value was measured

    @property
    def name(self) -> str:
        return self.budget.id


@dataclass
class Report:
    label: str                           # device / origin the report is about
    results: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: Coverage | None = None
    unmeasurable: str | None = None      # why the check could not measure (exit 2)
    suspects: list = field(default_factory=list)
    samples: int = 1
    seconds: float | None = None
    strict: bool = False                 # `check --strict`: warnings fail the check too
    packages: tuple[str, ...] = ()       # `check --package`: the apps the budgets were measured for

    @property
    def measured_for(self) -> str:
        """What the budgets measured, in words every report shows."""
        return f"budgets measured for {', '.join(self.packages)}" if self.packages else "budgets measured for the whole device"

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def strict_failures(self) -> list[str]:
        """The warnings that fail this check under --strict (none without it)."""
        return list(self.warnings) if self.strict else []

    @property
    def exit_code(self) -> int:
        if self.unmeasurable:
            return 2
        return 1 if self.failed or self.strict_failures else 0

    @property
    def verdict(self) -> str:
        """Why the check passed or failed, in words every report shows."""
        if self.unmeasurable:
            return "could not measure"
        why = []
        if self.failed:
            why.append(f"{len(self.failed)} budget(s) exceeded")
        if self.strict_failures:
            why.append(f"{len(self.strict_failures)} warning(s) under --strict")
        return ", ".join(why) or "within budget"


def _glob(pattern: str) -> re.Pattern:
    return re.compile(fnmatch.translate(pattern.lower()), re.DOTALL)


def process_matches(p: Process, pat: re.Pattern) -> bool:
    cands = [p.name, p.label, p.package or ""]
    if p.cmdline:
        cands.append(p.cmdline[0].rsplit("/", 1)[-1])
    return any(c and pat.match(c.lower()) for c in cands)


def owner_matches(name: str, pat: re.Pattern) -> bool:
    """An owner as account names it (Totals.by_owner: a package, a process label, an override's
    owner) matches by that name or, for a path (/system/bin/surfaceflinger), its last part."""
    low = name.lower()
    return pat.match(low) is not None or ("/" in low and pat.match(low.rsplit("/", 1)[-1]) is not None)


def _shown(names) -> str:
    names = list(names)
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def measure(b: Budget, snap: Snapshot, acc: Accounting, packages: tuple[str, ...] = ()) -> tuple[int, str, bool]:
    """(bytes, what was measured, whether the target matched anything). With `packages`, total,
    tag and exporter budgets measure those apps' processes (module docstring)."""
    if packages and b.scope in ("total", "tag", "exporter"):
        g = package_group(snap, acc, packages)
        of = f"{len(g.pids)} process(es) of {g.key}"
        if b.scope == "total":
            return g.rss, f"unique bytes held by {of}", True
        if b.scope == "tag":
            return g.by_tag.get(b.target, 0), f"tag {b.target} held by {of}", b.target in g.by_tag
        pat = _glob(b.target)
        v, hits = matching(g.by_exporter, lambda e: pat.match(e.lower()) is not None)
        return v, f"{', '.join(hits) or 'no exporter'} held by {of}", bool(hits)
    t = acc.totals
    if b.scope == "total":
        return t.bytes, "unique bytes of every buffer", True
    if b.scope == "tag":
        return t.by_tag.get(b.target, 0), f"tag {b.target}", b.target in t.by_tag
    if b.scope == "exporter":
        pat = _glob(b.target)
        v, hits = matching(t.by_exporter, lambda e: pat.match(e.lower()) is not None)
        return v, ", ".join(hits) or "no exporter", bool(hits)
    if b.scope == "owner":
        # each held buffer is charged whole to one owner (model/owners.py), so owners never overlap
        pat = _glob(b.target)
        v, hits = matching(t.by_owner, lambda o: owner_matches(o, pat))
        return v, f"charged to {len(hits)} owner(s): {_shown(hits)}" if hits else "no owner", bool(hits)
    if b.scope == "process":
        pat = _glob(b.target)
        procs = [p for p in snap.processes.values() if process_matches(p, pat)]
        if not procs:
            return 0, "no process", False
        if b.each:
            worst, who = 0, ""
            for p in procs:
                pa = acc.processes.get(p.pid)
                v = getattr(pa, b.metric) if pa else 0
                if v > worst or not who:
                    worst, who = v, f"{p.label} (pid {p.pid})"
            return worst, f"{b.metric} of {who}", True
        # the group's sums: a buffer two matching processes share counts once
        group = process_groups(snap, acc, {p.pid: b.target for p in procs}).get(b.target)
        v = getattr(group, b.metric) if group is not None else 0
        return v, f"{b.metric} of {len(procs)} process(es): {_shown(sorted({p.label for p in procs}))}", True
    raise ValueError(b.scope)


_PATTERNS = ("process", "exporter", "owner")     # scopes whose target is a glob that may match nothing


def known_tags(rules=None) -> set[str]:
    from droidtrack.model.tags import TAGS
    tags = set(TAGS)
    if rules is not None:
        tags |= {r.tag for r in rules.rules}
    return tags


def not_exact(snaps: list[Snapshot], packages: tuple[str, ...]) -> list[str]:
    """For check --package: a warning for each app whose processes were not all read exactly in
    some measured snapshot (or that ran no process), so that its budgets do not look measured."""
    from droidtrack.model.coverage import grade
    out = []
    for pkg in packages:
        absent, unread = 0, {}
        for s in snaps:
            procs = [p for p in s.processes.values() if p.package == pkg]
            if not procs:
                absent += 1
            for p in procs:
                g = grade(p)
                if g != "exact":
                    unread[p.pid] = (p.label, g)
        if unread:
            who = _shown(f"{lab} (pid {pid}, {g})" for pid, (lab, g) in sorted(unread.items()))
            out.append(f"--package {pkg}: {len(unread)} of its processes could not be read exactly ({who}): "
                       f"its budgets measure only what was seen, not a pass on real data")
        if absent:
            out.append(f"--package {pkg} has no running process in {absent} of {len(snaps)} measured snapshot(s): "
                       f"its budgets measure 0 there")
    return out


def _unread_matches(b: Budget, snaps: list[Snapshot]) -> list[str]:
    """The processes a process budget matches whose fds could not be read (a user build without
    --package): their 0 B is not a measurement."""
    pat = _glob(b.target)
    seen = {}
    for s in snaps:
        for p in s.processes.values():
            if p.fds_readable is False and process_matches(p, pat):
                seen[p.pid] = p.label
    return [f"{lab} (pid {pid})" for pid, lab in sorted(seen.items())]


def evaluate(bf: BudgetFile, snaps: list[Snapshot], *, baseline: Snapshot | None = None,
             rules=None, label: str = "", packages: tuple[str, ...] = ()) -> Report:
    """Check every budget. `snaps` is one snapshot, or every sample of a recording: absolute budgets
    must hold at every sample (the worst is reported), growth is last minus `baseline` (or minus the
    first sample when there is no baseline), leak gates look at the whole sequence."""
    from droidtrack.history import compare as history
    if not snaps:
        raise ValueError("evaluate needs at least one snapshot")
    accs = [account(s) for s in snaps]
    rep = Report(label or snaps[-1].origin, samples=len(snaps), packages=tuple(packages))
    rep.warnings += not_exact(snaps, rep.packages)
    if len(snaps) > 1 and snaps[0].time and snaps[-1].time:
        rep.seconds = snaps[-1].time - snaps[0].time
    covs = [coverage(s, bf.required_sources) for s in snaps]
    rep.coverage = min(covs, key=lambda c: c.value)
    if rep.coverage.value == 0.0 and rep.coverage.reason:
        rep.unmeasurable = f"could not measure: {rep.coverage.reason}"
    elif bf.min_coverage is not None and rep.coverage.value < bf.min_coverage:
        rep.unmeasurable = (f"coverage {rep.coverage.value:.0%} is below min_coverage {bf.min_coverage:.0%}: "
                            f"{rep.coverage.describe()}")
    tags = known_tags(rules)
    base = baseline if baseline is not None else (snaps[0] if len(snaps) > 1 else None)
    base_acc = account(base) if base is not None else None
    for b in bf.budgets:
        if b.scope == "tag" and b.target not in tags:
            rep.warnings.append(f"line {b.line}: tag {b.target!r} is not a tag the rules can give "
                                f"(known: {', '.join(sorted(tags))}); its budget measures 0")
        if b.growth:
            if base is None:
                rep.results.append(Result(b, "skip", None, b.limit,
                                          "growth needs --baseline, or --replay of a recording"))
                # one snapshot and no baseline (the README's first command): said, not a failure
                rep.warnings.append(f"line {b.line}: {b.id} not checked: growth needs --baseline, or --replay "
                                    f"of a recording")
                continue
            before, _, hit0 = measure(b, base, base_acc, rep.packages)
            after, what, hit1 = measure(b, snaps[-1], accs[-1], rep.packages)
            if not (hit0 or hit1) and b.scope in _PATTERNS:
                rep.warnings.append(f"line {b.line}: {b.scope} pattern {b.target!r} matched nothing "
                                    "in the baseline or the measurement")
            delta = after - before
            rep.results.append(Result(b, "fail" if delta > b.limit else "pass", delta, b.limit,
                                      f"{what}: {format_size(before)} -> {format_size(after)}",
                                      sample=len(snaps) - 1 if len(snaps) > 1 else None))
            continue
        worst = None
        matched = False
        for i, (s, a) in enumerate(zip(snaps, accs)):
            v, what, hit = measure(b, s, a, rep.packages)
            matched |= hit
            if worst is None or v > worst[0]:
                worst = (v, what, i)
        v, what, i = worst
        if not matched and b.scope in _PATTERNS:
            rep.warnings.append(f"line {b.line}: {b.scope} pattern {b.target!r} matched no "
                                f"{b.scope}; its budget measures 0")
        if b.scope == "process":
            unread = _unread_matches(b, snaps)
            if unread:
                rep.warnings.append(f"line {b.line}: {b.id} matches {len(unread)} process(es) whose fds could not "
                                    f"be read ({_shown(unread)}): their bytes are not measured (on a user build, "
                                    f"check --package PKG reads a debuggable app by run-as)")
        rep.results.append(Result(b, "fail" if v > b.limit else "pass", v, b.limit, what,
                                  sample=i if len(snaps) > 1 else None))
    cov = rep.coverage
    if not rep.unmeasurable and cov.attempted and not cov.readable and not rep.packages:
        rep.warnings.append(f"no process's fds could be read (0 of {cov.attempted}; a user build?): the budgets "
                            f"measure only buffers no process was seen holding, not the apps (check --package "
                            f"PKG reads a debuggable app by run-as; min_coverage makes this exit 2)")
    if bf.leaks is not None:
        g = bf.leaks
        lb = Budget("leaks", "leaks", None, g.max_suspects, line=g.line)
        series = ([baseline] if baseline is not None else []) + list(snaps)
        if len(series) < 2:
            rep.results.append(Result(lb, "skip", None, g.max_suspects,
                                      "leak suspects need a recording (--replay) or --baseline"))
            rep.warnings.append(f"line {g.line}: leaks not checked: leak suspects need a recording (--replay) "
                                f"or --baseline")
        else:
            accs2 = ([account(baseline)] if baseline is not None else []) + accs
            found = history.leak_suspects(series, accs2)
            rep.suspects = found
            counted = [s for s in found if s.kind in g.kinds and s.bytes >= g.min_bytes
                       and s.confidence >= g.min_confidence]
            detail = (f"{len(counted)} suspect(s) of at least {format_size(g.min_bytes)} with confidence "
                      f">= {g.min_confidence:g}")
            if counted:
                detail += ": " + "; ".join(f"{s.kind} {s.subject} ({format_size(s.bytes)}, {s.confidence:.2f})"
                                           for s in counted[:5])
            rep.results.append(Result(lb, "fail" if len(counted) > g.max_suspects else "pass",
                                      len(counted), g.max_suspects, detail))
    return rep


def report_to_dict(rep: Report) -> dict:
    from droidtrack.history.compare import suspect_to_dict
    return {
        "device": rep.label,
        "exit_code": rep.exit_code,
        "verdict": rep.verdict,
        "strict": rep.strict,
        "packages": list(rep.packages),
        "measured_for": rep.measured_for,
        "unmeasurable": rep.unmeasurable,
        "samples": rep.samples,
        "seconds": rep.seconds,
        "coverage": None if rep.coverage is None else {
            "value": rep.coverage.value, "readable": rep.coverage.readable,
            "attempted": rep.coverage.attempted, "reason": rep.coverage.reason},
        "results": [{"budget": r.budget.id, "scope": r.budget.scope, "target": r.budget.target,
                     "growth": r.budget.growth, "metric": r.budget.metric, "line": r.budget.line,
                     "status": r.status, "measured": r.measured, "allowed": r.allowed,
                     "detail": r.detail, "sample": r.sample} for r in rep.results],
        "warnings": list(rep.warnings),
        "leak_suspects": [suspect_to_dict(s) for s in rep.suspects],
    }
