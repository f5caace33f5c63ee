"""Tags from rules: data, not code. See rules.yaml for the rule language.

Every buffer gets exactly one tag and the id of the rule that gave it, so the user can see why.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Iterable

from droidtrack.model import yaml_input
from droidtrack.model.yaml_input import builtin_text, load_rule_file

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
    # the owner rules (model/owners.OwnerRules) that travel with these tag rules wherever a command
    # passes its rules on (sources, recordings, retag); None: the built-in owner_rules.yaml
    owners: object = field(default=None, compare=False)

    def tag_of(self, exporter: str | None, name: str | None, holders: Iterable[str],
               packages: Iterable[str], held: bool) -> tuple[str, str]:
        key = (exporter, name, tuple(holders), tuple(packages), held)
        cache = self._memo("tag_of")
        hit = cache.get(key)
        if hit is None:
            if len(cache) > 100_000:
                cache.clear()
            hit = cache[key] = self.tag_by_masks(exporter, name, held, self.holder_mask(key[2]),
                                                 self.package_mask(key[3]))
        return hit

    # Tagging many buffers: what a rule's holder/package patterns say depends only on each
    # process's names and package, so each distinct name is matched once (`holder_mask`,
    # `package_mask`: bit i set when rule i's patterns match), a buffer's holders are folded by
    # OR-ing their masks (a rule matches "any holder" iff some holder's bit is set), and the
    # decision is made once per (exporter, name, held, masks).
    def holder_mask(self, names: Iterable[str]) -> int:
        """Bit i set when rule i has `holder:` patterns and one of them matches one of the names."""
        return self._mask("holder", names)

    def package_mask(self, packages: Iterable[str]) -> int:
        """Bit i set when rule i has `package:` patterns and one of them matches one of the packages."""
        return self._mask("package", packages)

    def tag_by_masks(self, exporter: str | None, name: str | None, held: bool, holder_mask: int,
                     package_mask: int) -> tuple[str, str]:
        """The tag of a buffer whose holders' names and packages gave these masks."""
        cache = self._memo("buffer")
        key = (exporter, name, held, holder_mask, package_mask)
        hit = cache.get(key)
        if hit is None:
            if len(cache) > 100_000:
                cache.clear()
            hit = cache[key] = self._decide(self._mask("exporter", (exporter or "",)),
                                            self._mask("name", (name or "",)), held, holder_mask, package_mask)
        return hit

    def _memo(self, what: str) -> dict:
        d = self._cache.get(what)
        if d is None:
            d = self._cache[what] = {}
        return d

    def _mask(self, key: str, values: Iterable[str]) -> int:
        """Bit i set when rule i has patterns for `key` and one of them matches one of the values
        (lower-cased). Each distinct value is matched once."""
        cache = self._memo(key)
        keyed = cache.get(None)
        if keyed is None:
            keyed = cache[None] = self._keyed(key)
        rules, anyone = keyed
        mask = 0
        for v in values:
            m = cache.get(v)
            if m is None:
                if len(cache) > 100_000:
                    cache.clear()
                    cache[None] = keyed
                low = v.lower()
                m = 0
                if anyone is None or anyone.match(low):
                    for i, pats in rules:
                        if any(p.match(low) for p in pats):
                            m |= 1 << i
                cache[v] = m
            mask |= m
        return mask

    def _keyed(self, key: str) -> tuple[tuple[tuple[int, tuple[re.Pattern, ...]], ...], re.Pattern | None]:
        """(bit, patterns) of the rules that have this key, and one pattern matching what any of
        them matches (most values match no rule: one regex call tells so), or None if their
        patterns cannot be joined into one."""
        rules = tuple((i, r.patterns[key]) for i, r in enumerate(self.rules) if key in r.patterns)
        pats = [p for _, ps in rules for p in ps]
        anyone = None
        if pats and len({p.flags for p in pats}) == 1:
            try:
                anyone = re.compile("|".join(f"(?:{p.pattern})" for p in pats), pats[0].flags)
            except (re.error, RecursionError, OverflowError):
                anyone = None
        return rules, anyone

    def _decide(self, exporter_mask: int, name_mask: int, held: bool, holder_mask: int,
                package_mask: int) -> tuple[str, str]:
        """First rule (in file order) whose every key matches: a key with several values (the
        holders' names, their packages) matches when one of them does. Once per distinct masks."""
        cache = self._memo("decide")
        key = (exporter_mask, name_mask, held, holder_mask, package_mask)
        hit = cache.get(key)
        if hit is not None:
            return hit
        hit = ("other", "default")
        masks = (("exporter", exporter_mask), ("name", name_mask), ("holder", holder_mask),
                 ("package", package_mask))
        for i, r in enumerate(self.rules):
            if r.held is not None and r.held != held:
                continue
            if all(mask >> i & 1 for k, mask in masks if k in r.patterns):
                hit = (r.tag, r.id)
                break
        if len(cache) > 100_000:
            cache.clear()
        cache[key] = hit
        return hit


def _compile(patterns: list[str]) -> re.Pattern:
    """All of a key's globs as one anchored alternation: one match call per value."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns), re.DOTALL)


def parse_rules(text: str, origin: str) -> Rules:
    doc = yaml_input.load(text, origin, RulesError)
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
    return builtin_text("rules.yaml")


def load_rules(path: str | None = None) -> Rules:
    return load_rule_file(path, parse_rules, "rules.yaml", RulesError, "rules file")


def add_rules_arguments(group, tags_help: str = "your own tag rules (default: the built-in rules.yaml)") -> None:
    """--rules and --owner-rules: every command that builds or reads snapshots takes both."""
    group.add_argument("--rules", metavar="YAML", help=tags_help)
    group.add_argument("--owner-rules", metavar="YAML",
                       help="your own owner rules (roles:, overrides:), read before the built-in "
                       "owner_rules.yaml (see docs/owners.md)")


RULES_OPTIONS = ("rules", "owner_rules")    # the files they name are inputs (never an output)


def rules_from_args(args, *, optional: bool = False) -> Rules | None:
    """The tag rules --rules names (the built-in ones without it), carrying the owner rules
    --owner-rules names merged over the built-in ones. `optional`: None when neither was given
    (a command that then keeps what its documents say). Raises RulesError / OwnerRulesError
    (exit 2, naming the file, line and key)."""
    path, owner_path = getattr(args, "rules", None), getattr(args, "owner_rules", None)
    if optional and not path and not owner_path:
        return None
    rules = load_rules(path)
    if owner_path:
        from dataclasses import replace
        from droidtrack.model.owners import load_owner_rules
        rules = replace(rules, owners=load_owner_rules(owner_path))
    return rules
