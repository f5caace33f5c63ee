"""The budget file: reading, validating and the line-numbered errors of its YAML (docs/ci.md is the
reference; ci/budgets.py measures a budget file against snapshots).

    version: 1
    min_coverage: 0.9
    required_sources: [fdinfo]
    total: 64MiB
    tags: {camera: 8MiB, gl: 32MiB}
    exporters: {system: 48MiB}
    owners: {"com.example.*": 64MiB}
    processes: {"media_*": 16MiB, "com.example.app": {max: 20MiB, metric: pss}}
    growth: {total: 4MiB, tags: {camera: 1MiB}, processes: {"com.example.*": 2MiB}}
    leaks: {max_suspects: 0, min_bytes: 1MiB, min_confidence: 0.5}

Sizes: an integer (bytes) or a number with a unit; K, k, KB, kB, KiB = 1024 bytes, M/MB/MiB = 1024²,
G/GB/GiB = 1024³ (Android and the kernel mean 1024 by "kB"). Typos are errors that name the line
and the key; the YAML is read by model/yaml_input.py (no tags, bounded depth and aliases). An
unknown tag or a pattern that matches nothing is a warning in the report, not an error here.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import yaml

from droidtrack.model.yaml_input import compose, construct, read_user_file

TOP_KEYS = ("version", "min_coverage", "required_sources", "total", "tags", "exporters", "processes",
            "owners", "growth", "leaks")
GROWTH_KEYS = ("total", "tags", "exporters", "processes", "owners")
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
        elif key in ("tags", "exporters", "processes", "owners"):
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
        raise BudgetError(f"{origin}: no budgets in the file (total, tags, exporters, processes, owners, growth or leaks)")
    return bf


_SCOPE = {"tags": "tag", "exporters": "exporter", "processes": "process", "owners": "owner"}


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
    return parse_budgets(read_user_file(path, BudgetError, "budget file"), path)
