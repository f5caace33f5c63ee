"""Tags from rules: data, not code. See rules.yaml for the rule language.

Every buffer gets exactly one tag and the id of the rule that gave it, so the user can see why.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

import yaml

TAGS = ("camera", "gl", "graphics", "multimedia", "display", "other")
MATCH_KEYS = ("exporter", "name", "holder", "package", "held")


class RulesError(Exception):
    """A rules file that cannot be used; the message names the file, rule and key."""
    exit_code = 2


@dataclass(frozen=True)
class Rule:
    id: str
    tag: str
    patterns: dict[str, tuple[re.Pattern, ...]]
    held: bool | None = None

    def describe(self) -> str:
        return self.id


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    origin: str
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def tag_of(self, exporter: str | None, name: str | None, holders: Iterable[str],
               packages: Iterable[str], held: bool) -> tuple[str, str]:
        key = (exporter, name, tuple(holders), tuple(packages), held)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            hit = self._cache[key] = self._tag_of(*key)
        return hit

    def _tag_of(self, exporter: str | None, name: str | None, holders: tuple[str, ...],
                packages: tuple[str, ...], held: bool) -> tuple[str, str]:
        # the buffer's own fields narrow the rules once per (exporter, name, held); only the
        # holder/package parts of what is left are checked against this buffer's holders
        bkey = (exporter, name, held)
        cands = self._cache.get(bkey)
        if cands is None:
            cands = self._cache[bkey] = self._candidates(exporter, name, held)
        for r in cands:
            ok = True
            for key, pats in r.patterns.items():
                if key == "holder":
                    ok = any(p.match(h.lower()) for p in pats for h in holders)
                elif key == "package":
                    ok = any(p.match(h.lower()) for p in pats for h in packages)
                if not ok:
                    break
            if ok:
                return r.tag, r.id
        return "other", "default"

    def _candidates(self, exporter: str | None, name: str | None, held: bool) -> tuple[Rule, ...]:
        exp = (exporter or "").lower()
        nm = (name or "").lower()
        out = []
        for r in self.rules:
            if r.held is not None and r.held != held:
                continue
            ok = True
            for key, pats in r.patterns.items():
                if key == "exporter":
                    ok = any(p.match(exp) for p in pats)
                elif key == "name":
                    ok = any(p.match(nm) for p in pats)
                if not ok:
                    break
            if ok:
                out.append(r)
                if not any(k in r.patterns for k in ("holder", "package")):
                    break          # this rule matches whatever the holders: nothing after it counts
        return tuple(out)


def _compile(patterns: list[str]) -> re.Pattern:
    """All of a key's globs as one anchored alternation: one match call per value."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns), re.DOTALL)


def parse_rules(text: str, origin: str) -> Rules:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RulesError(f"{origin}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RulesError(f"{origin}: expected a mapping with a 'rules:' list")
    if doc.get("version", 1) != 1:
        raise RulesError(f"{origin}: version {doc.get('version')!r} is not supported (this droidtrack reads version 1)")
    out: list[Rule] = []
    for i, r in enumerate(doc["rules"], 1):
        where = f"{origin}: rule {i}"
        if not isinstance(r, dict):
            raise RulesError(f"{where}: expected a mapping with tag: and match:")
        unknown = set(r) - {"id", "tag", "match", "description"}
        if unknown:
            raise RulesError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: id, tag, match, description)")
        tag = r.get("tag")
        if not isinstance(tag, str) or not tag:
            raise RulesError(f"{where}: 'tag' must be a non-empty string")
        rid = str(r.get("id") or f"rule-{i}")
        m = r.get("match")
        if not isinstance(m, dict) or not m:
            raise RulesError(f"{where} ({rid}): 'match' must be a non-empty mapping of {', '.join(MATCH_KEYS)}")
        pats: dict[str, tuple[re.Pattern, ...]] = {}
        held = None
        for k, v in m.items():
            if k not in MATCH_KEYS:
                raise RulesError(f"{where} ({rid}): unknown match key {k!r} (allowed: {', '.join(MATCH_KEYS)})")
            if k == "held":
                if not isinstance(v, bool):
                    raise RulesError(f"{where} ({rid}): 'held' must be true or false")
                held = v
                continue
            vals = [v] if isinstance(v, str) else v
            if not isinstance(vals, list) or not all(isinstance(x, str) for x in vals):
                raise RulesError(f"{where} ({rid}): {k!r} must be a glob string or a list of them")
            pats[k] = (_compile(vals),)
        out.append(Rule(rid, tag, pats, held))
    return Rules(tuple(out), origin)


def default_rules_text() -> str:
    return resources.files("droidtrack").joinpath("rules.yaml").read_text(encoding="utf-8")


def load_rules(path: str | None = None) -> Rules:
    if path is None:
        return parse_rules(default_rules_text(), "built-in rules.yaml")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError(f"cannot read rules file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RulesError(f"rules file {path} is not UTF-8 text") from None
    return parse_rules(text, path)
