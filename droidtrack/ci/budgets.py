"""Budgets: a YAML file of limits, and their evaluation against snapshots (docs/ci.md is the reference).

    version: 1
    min_coverage: 0.9
    required_sources: [fdinfo]
    total: 64MiB
    tags: {camera: 8MiB, gl: 32MiB}
    exporters: {system: 48MiB}
    processes: {"media_*": 16MiB, "com.example.app": {max: 20MiB, metric: pss}}
    growth: {total: 4MiB, tags: {camera: 1MiB}, processes: {"com.example.*": 2MiB}}
    leaks: {max_suspects: 0, min_bytes: 1MiB, min_confidence: 0.5}

Sizes: an integer (bytes) or a number with a unit; K, k, KB, kB, KiB = 1024 bytes, M/MB/MiB = 1024²,
G/GB/GiB = 1024³ (Android and the kernel mean 1024 by "kB"). Typos are errors that name the line
and the key; an unknown tag or a pattern that matches nothing is a warning in the report.

Coverage (min_coverage) is the fraction of the device's processes whose fd tables droidtrack could
read (`Process.fds_readable` true, among processes where reading was attempted). It is 0 when no
process was scanned, when a source named in `required_sources` is absent, denied or failed, and
when the collection was cut short (a disconnect mid-snapshot).
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from droidtrack.model.account import Accounting, account, process_groups
from droidtrack.model import Process, Snapshot
from droidtrack.model.units import human_size as format_size
from droidtrack.model.yaml_input import compose, construct

TOP_KEYS = ("version", "min_coverage", "required_sources", "total", "tags", "exporters", "processes",
            "growth", "leaks")
GROWTH_KEYS = ("total", "tags", "exporters", "processes")
LEAK_KEYS = ("max_suspects", "min_bytes", "min_confidence", "kinds")
LEAK_KINDS = ("persistent", "growth", "orphan")
PROCESS_KEYS = ("max", "metric", "each")
PROCESS_METRICS = ("rss", "pss", "fd_only")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
          "tib": 1 << 40}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class BudgetError(Exception):
    """A budget file that cannot be used; the message names the file, line and key. Exit code 2."""
    exit_code = 2


def parse_size(value) -> int:
    """64MiB, 64M, 64 MB, 1.5GiB, 4096 -> bytes. Raises ValueError with a short reason."""
    if isinstance(value, bool):
        raise ValueError("expected a size, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, float):
        raise ValueError("give a unit with fractional sizes (1.5MiB), or whole bytes")
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size (write bytes, or a number with KiB/MiB/GiB, K/M/G, kB)")
    unit = m.group(2).lower()
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {m.group(2)!r} in {value!r} (use KiB/MiB/GiB, K/M/G, kB/MB/GB)")
    num = float(m.group(1))
    if "." in m.group(1) and unit in ("", "b"):
        raise ValueError(f"{value!r}: bytes must be a whole number")
    return int(round(num * _UNITS[unit]))


@dataclass(frozen=True)
class Budget:
    id: str             # how reports name it: "total", "tag camera", "process media_*", "growth total", ...
    scope: str          # total | tag | exporter | process | leaks
    target: str | None  # tag name, exporter glob, process glob
    limit: int          # bytes (max_suspects for leaks)
    growth: bool = False
    metric: str = "bytes"
    each: bool = False
    line: int = 0


@dataclass(frozen=True)
class LeakGate:
    max_suspects: int = 0
    min_bytes: int = 1 << 20
    min_confidence: float = 0.5
    kinds: tuple[str, ...] = LEAK_KINDS
    line: int = 0


@dataclass
class BudgetFile:
    origin: str
    budgets: list[Budget]
    min_coverage: float | None = None
    required_sources: tuple[str, ...] = ()
    leaks: LeakGate | None = None

    @property
    def needs_history(self) -> bool:
        return self.leaks is not None or any(b.growth for b in self.budgets)


# ---- parsing, with line numbers --------------------------------------------------------------

def _err(origin: str, node, msg: str) -> BudgetError:
    line = node.start_mark.line + 1 if node is not None else None
    return BudgetError(f"{origin}{f' line {line}' if line else ''}: {msg}")


def _unknown(origin: str, node, key: str, allowed, where: str) -> BudgetError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return _err(origin, node, f"unknown key {key!r} in {where}{hint}; allowed: {', '.join(allowed)}")


def _mapping(origin: str, node, where: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _err(origin, node, f"{where} must be a mapping (key: value lines)")
    out = []
    seen = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _err(origin, k, f"{where}: keys must be plain names or quoted globs")
        if k.value in seen:
            raise _err(origin, k, f"{where}: key {k.value!r} appears twice (first on line {seen[k.value]})")
        seen[k.value] = k.start_mark.line + 1
        out.append((k.value, k, v))
    return out


def _scalar(origin: str, node, key: str):
    if not isinstance(node, yaml.ScalarNode):
        raise _err(origin, node, f"{key!r} must be a single value")
    return construct(node, origin, BudgetError) if node.tag != "tag:yaml.org,2002:str" else node.value


def _size(origin: str, node, key: str) -> int:
    v = _scalar(origin, node, key)
    try:
        return parse_size(v)
    except ValueError as e:
        raise _err(origin, node, f"{key!r}: {e}") from None


def parse_budgets(text: str, origin: str = "budgets") -> BudgetFile:
    root = compose(text, origin, BudgetError)
    if root is None:
        raise BudgetError(f"{origin}: the file is empty; see docs/ci.md for the budget format")
    bf = BudgetFile(origin, [])
    version_seen = False
    for key, kn, vn in _mapping(origin, root, "the budget file"):
        if key == "version":
            v = _scalar(origin, vn, key)
            if v != 1:
                raise _err(origin, vn, f"version {v!r} is not supported (this droidtrack reads version 1)")
            version_seen = True
        elif key == "min_coverage":
            v = _scalar(origin, vn, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise _err(origin, vn, "'min_coverage' must be a fraction between 0 and 1 (e.g. 0.9)")
            bf.min_coverage = float(v)
        elif key == "required_sources":
            if not isinstance(vn, yaml.SequenceNode) or not all(isinstance(x, yaml.ScalarNode) for x in vn.value):
                raise _err(origin, vn, "'required_sources' must be a list of source names (e.g. [fdinfo, maps])")
            bf.required_sources = tuple(x.value for x in vn.value)
        elif key == "total":
            bf.budgets.append(Budget("total", "total", None, _size(origin, vn, key), line=vn.start_mark.line + 1))
        elif key in ("tags", "exporters", "processes"):
            bf.budgets += _group(origin, key, vn, growth=False)
        elif key == "growth":
            for gk, gkn, gvn in _mapping(origin, vn, "'growth'"):
                if gk not in GROWTH_KEYS:
                    raise _unknown(origin, gkn, gk, GROWTH_KEYS, "'growth'")
                if gk == "total":
                    bf.budgets.append(Budget("growth total", "total", None, _size(origin, gvn, "growth.total"),
                                             growth=True, line=gvn.start_mark.line + 1))
                else:
                    bf.budgets += _group(origin, gk, gvn, growth=True)
        elif key == "leaks":
            bf.leaks = _leaks(origin, vn)
        else:
            raise _unknown(origin, kn, key, TOP_KEYS, "the budget file")
    if not version_seen:
        raise BudgetError(f"{origin}: missing 'version: 1' (the first line of every budget file)")
    if not bf.budgets and bf.leaks is None:
        raise BudgetError(f"{origin}: no budgets in the file (total, tags, exporters, processes, growth or leaks)")
    return bf


_SCOPE = {"tags": "tag", "exporters": "exporter", "processes": "process"}


def _group(origin: str, key: str, node, *, growth: bool) -> list[Budget]:
    where = f"'growth.{key}'" if growth else f"'{key}'"
    scope = _SCOPE[key]
    out = []
    for name, kn, vn in _mapping(origin, node, where):
        bid = f"{'growth ' if growth else ''}{scope} {name}"
        line = kn.start_mark.line + 1
        if scope == "process" and isinstance(vn, yaml.MappingNode):
            opts = {}
            for ok, okn, ovn in _mapping(origin, vn, f"{where} {name!r}"):
                if ok not in PROCESS_KEYS:
                    raise _unknown(origin, okn, ok, PROCESS_KEYS, f"{where} {name!r}")
                opts[ok] = (okn, ovn)
            if "max" not in opts:
                raise _err(origin, vn, f"{where} {name!r}: 'max' (the size) is required")
            limit = _size(origin, opts["max"][1], f"{name}.max")
            metric = "rss"
            if "metric" in opts:
                metric = str(_scalar(origin, opts["metric"][1], "metric"))
                if metric not in PROCESS_METRICS:
                    raise _err(origin, opts["metric"][1], f"{name}.metric {metric!r}: use one of {', '.join(PROCESS_METRICS)}")
            each = False
            if "each" in opts:
                each = _scalar(origin, opts["each"][1], "each")
                if not isinstance(each, bool):
                    raise _err(origin, opts["each"][1], f"{name}.each must be true or false")
            out.append(Budget(bid, scope, name, limit, growth, metric, each, line))
        else:
            limit = _size(origin, vn, f"{key}.{name}" if not growth else f"growth.{key}.{name}")
            out.append(Budget(bid, scope, name, limit, growth, "rss" if scope == "process" else "bytes",
                              False, line))
    return out


def _leaks(origin: str, node) -> LeakGate:
    kw: dict = {"line": node.start_mark.line + 1}
    for k, kn, vn in _mapping(origin, node, "'leaks'"):
        if k not in LEAK_KEYS:
            raise _unknown(origin, kn, k, LEAK_KEYS, "'leaks'")
        if k == "max_suspects":
            v = _scalar(origin, vn, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise _err(origin, vn, "'leaks.max_suspects' must be a whole number >= 0")
            kw[k] = v
        elif k == "min_bytes":
            kw[k] = _size(origin, vn, "leaks.min_bytes")
        elif k == "min_confidence":
            v = _scalar(origin, vn, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise _err(origin, vn, "'leaks.min_confidence' must be a fraction between 0 and 1")
            kw[k] = float(v)
        elif k == "kinds":
            if not isinstance(vn, yaml.SequenceNode):
                raise _err(origin, vn, f"'leaks.kinds' must be a list of {', '.join(LEAK_KINDS)}")
            kinds = []
            for x in vn.value:
                if not isinstance(x, yaml.ScalarNode) or x.value not in LEAK_KINDS:
                    raise _err(origin, x, f"'leaks.kinds': {getattr(x, 'value', x)!r} is not one of {', '.join(LEAK_KINDS)}")
                kinds.append(x.value)
            kw[k] = tuple(kinds)
    return LeakGate(**kw)


def load_budgets(path: str) -> BudgetFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise BudgetError(f"cannot read budget file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BudgetError(f"budget file {path} is not UTF-8 text") from None
    return parse_budgets(text, path)


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


def measure(b: Budget, snap: Snapshot, acc: Accounting) -> tuple[int, str, bool]:
    """(bytes, what was measured, whether the target matched anything)."""
    t = acc.totals
    if b.scope == "total":
        return t.bytes, "unique bytes of every buffer", True
    if b.scope == "tag":
        return t.by_tag.get(b.target, 0), f"tag {b.target}", b.target in t.by_tag
    if b.scope == "exporter":
        pat = _glob(b.target)
        hits = {e: v for e, v in t.by_exporter.items() if pat.match(e.lower())}
        return sum(hits.values()), ", ".join(sorted(hits)) or "no exporter", bool(hits)
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
        names = sorted({p.label for p in procs})
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        return v, f"{b.metric} of {len(procs)} process(es): {shown}", True
    raise ValueError(b.scope)


def known_tags(rules=None) -> set[str]:
    from droidtrack.model.tags import TAGS
    tags = set(TAGS)
    if rules is not None:
        tags |= {r.tag for r in rules.rules}
    return tags


def evaluate(bf: BudgetFile, snaps: list[Snapshot], *, baseline: Snapshot | None = None,
             rules=None, label: str = "") -> Report:
    """Check every budget. `snaps` is one snapshot, or every sample of a recording: absolute budgets
    must hold at every sample (the worst is reported), growth is last minus `baseline` (or minus the
    first sample when there is no baseline), leak gates look at the whole sequence."""
    from droidtrack.history import compare as history
    if not snaps:
        raise ValueError("evaluate needs at least one snapshot")
    accs = [account(s) for s in snaps]
    rep = Report(label or snaps[-1].origin, samples=len(snaps))
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
            before, _, hit0 = measure(b, base, base_acc)
            after, what, hit1 = measure(b, snaps[-1], accs[-1])
            if not (hit0 or hit1) and b.scope in ("process", "exporter"):
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
            v, what, hit = measure(b, s, a)
            matched |= hit
            if worst is None or v > worst[0]:
                worst = (v, what, i)
        v, what, i = worst
        if not matched and b.scope in ("process", "exporter"):
            rep.warnings.append(f"line {b.line}: {b.scope} pattern {b.target!r} matched no "
                                f"{'process' if b.scope == 'process' else 'exporter'}; its budget measures 0")
        rep.results.append(Result(b, "fail" if v > b.limit else "pass", v, b.limit, what,
                                  sample=i if len(snaps) > 1 else None))
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
