"""Whose is each buffer: the process it was made for, not only the processes that hold it.

Android allocates almost every graphics and camera buffer in a service (the gralloc allocator
HAL, SurfaceFlinger, the camera provider, codecs) on an app's behalf, and the services keep or
share the fds. Holders are facts the kernel shows; the owner is derived, and every owner records
the rule that chose it and the evidence, so a person can check it. The evidence is weighed in
this order (the first that decides wins; an unheld buffer is decided by step 0 alone):

  0. kernel       nobody holds it: kernel-only (pid None), or unattributed where some process
                  could not be read, whatever else is known (a package its name or history names
                  is kept in `package`), so that each byte is charged exactly once
  1. override     a user rule (owner_rules.yaml `overrides:`) names the owner of buffers by
                  exporter, name or tag
  2. named        the buffer's name, or the name SurfaceFlinger's gralloc table gives it
                  (`gralloc_names`), names the package of a process on the device
                  (`com.example.camera/Preview#0`, `SurfaceView[com.example/...]`)
  3. app holder   exactly one app (by package) holds it: that app, whatever services hold it too;
                  several apps: the lowest pid, and a problem names every candidate
  4. last app     only services hold it now, but an earlier snapshot had an app as its owner
                  (`previous`): that app ("last app holder"), its pid kept only while it runs
  5. service      only services hold it: the holder that is not an allocator (SurfaceFlinger
                  rather than the gralloc HAL that made it), lowest pid first; only allocators:
                  the lowest pid

An owner with pid None but a holder (an override naming a process that is not running, a last
app holder that exited) is charged to no process: account counts those bytes apart, so that
Σ charged + owner gone + kernel-only + unattributed = every byte.

A process's role comes from the `roles:` rules (first match), else from its package: a process
with an Android package is an app, any other a service.

    rules = load_owner_rules(path_or_None)
    found = infer(snapshot, rules, previous=None)   # -> Ownership(owners {key: Owner}, problems)
    owners_of(snapshot)                             # snapshot.owners, or inferred where it has none

Model.build's finish() runs infer() on every snapshot it makes (with the previous snapshot's
owners where a source has one), so Snapshot.owners is filled wherever a device was read.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from droidtrack.model import yaml_input
from droidtrack.model.yaml_input import load_rule_file, read_user_file
from droidtrack.model import Buffer, Owner, Process, Snapshot
from droidtrack.model.problems import Problem
from droidtrack.parse.grepout import record_builder

ROLES = ("app", "service", "allocator")
ROLE_KEYS = ("process", "uid", "package")
OVERRIDE_KEYS = ("exporter", "name", "tag")

# rule names, as recorded in Owner.rule (an interface: the JSON and the UIs show them)
OVERRIDE, NAMED, APP, APPS, LAST_APP, SERVICE, ALLOCATOR, KERNEL, UNATTRIBUTED = (
    "override", "named", "app holder", "several apps", "last app holder", "service", "allocator",
    "kernel-only", "unattributed")
RULES = (OVERRIDE, NAMED, APP, APPS, LAST_APP, SERVICE, ALLOCATOR, KERNEL, UNATTRIBUTED)


@dataclass(frozen=True, slots=True)
class Ownership:
    owners: dict[str, Owner]
    problems: tuple[Problem, ...] = ()


# 20,000 owners on a large device: built without a frozen dataclass's per-field __setattr__
_owner = record_builder(Owner)


class OwnerRulesError(Exception):
    """An owner rules file that cannot be used; the message names the file, line and key."""
    exit_code = 2


@dataclass(frozen=True)
class _Match:
    line: int
    text: str                                   # the rule as written, for Owner.evidence
    globs: dict[str, re.Pattern]                # key -> compiled globs
    uids: tuple[tuple[int, int], ...] = ()
    origin: str = ""                            # the file it was read from


@dataclass(frozen=True)
class OwnerRules:
    roles: tuple[tuple[_Match, str], ...]
    overrides: tuple[tuple[_Match, str], ...]
    origin: str
    _role_cache: dict = field(default_factory=dict, compare=False, repr=False)

    def role_of(self, p: Process) -> str:
        key = (p.name, p.cmdline[0] if p.cmdline else "", p.uid, p.package)
        hit = self._role_cache.get(key)
        if hit is None:
            hit = self._role_cache[key] = self._decide_role(*key)
        return hit

    def _decide_role(self, comm: str, argv0: str, uid: int | None, package: str | None) -> str:
        names = tuple(x.lower() for x in (comm, argv0) if x)
        for m, role in self.roles:
            if "process" in m.globs and not any(m.globs["process"].match(n) for n in names):
                continue
            if "package" in m.globs and not (package and m.globs["package"].match(package.lower())):
                continue
            if m.uids and (uid is None or not any(a <= uid % 100000 <= b for a, b in m.uids)):
                continue
            return role
        return "app" if package else "service"

    def override_of(self, b: Buffer) -> tuple[_Match, str] | None:
        for m, owner in self.overrides:
            vals = {"exporter": b.exporter or "", "name": b.name or "", "tag": b.tag}
            if all(g.match(vals[k].lower()) for k, g in m.globs.items()):
                return m, owner
        return None


# ---- rules files ---------------------------------------------------------------------------
def _globs(v, where: str, key: str) -> re.Pattern:
    vals = [v] if isinstance(v, str) else v
    if not isinstance(vals, list) or not vals or not all(isinstance(x, str) for x in vals):
        raise OwnerRulesError(f"{where}: {key!r} must be a glob string or a list of them")
    return re.compile("|".join(f"(?:{fnmatch.translate(x.lower())})" for x in vals), re.DOTALL)


def _uids(v, where: str) -> tuple[tuple[int, int], ...]:
    vals = v if isinstance(v, list) else [v]
    out = []
    for x in vals:
        s = str(x).strip()
        a, sep, b = s.partition("-")
        if not (a.isdigit() and (not sep or b.isdigit())):
            raise OwnerRulesError(f"{where}: 'uid' must be a uid or a range like 10000-19999, not {x!r}")
        out.append((int(a), int(b) if sep else int(a)))
    return tuple(out)


def _entries(doc: dict, section: str, origin: str, lines: dict[int, int]):
    items = doc.get(section, [])
    if items is None:
        return
    if not isinstance(items, list):
        raise OwnerRulesError(f"{origin}: '{section}' must be a list")
    for i, item in enumerate(items, 1):
        line = lines.get(id(item))
        yield item, f"{origin}{f' line {line}' if line else ''} ({section} entry {i})", line or 0


# per section: the match keys, the key that says what follows, and an example for the error
_SECTIONS = {"roles": (ROLE_KEYS, "role", '{process: "surfaceflinger", role: service}'),
             "overrides": (OVERRIDE_KEYS, "owner", '{name: "cam_*", owner: com.example.camera}')}


def _checked(doc: dict, section: str, origin: str, lines: dict[int, int]):
    """The entries of one section, each a mapping of known keys naming at least one match key."""
    keys, then, example = _SECTIONS[section]
    for item, where, line in _entries(doc, section, origin, lines):
        if not isinstance(item, dict):
            raise OwnerRulesError(f"{where}: expected a mapping like {example}")
        bad = set(item) - set(keys) - {then}
        if bad:
            raise OwnerRulesError(f"{where}: unknown key(s) {', '.join(sorted(map(str, bad)))} "
                                  f"(allowed: {', '.join(keys)}, {then})")
        if not set(item) & set(keys):
            raise OwnerRulesError(f"{where}: name at least one of {', '.join(keys)}")
        yield item, where, line


def parse_owner_rules(text: str, origin: str) -> OwnerRules:
    node = yaml_input.compose(text, origin, OwnerRulesError)
    doc = yaml_input.construct(node, origin, OwnerRulesError)
    if not isinstance(doc, dict):
        raise OwnerRulesError(f"{origin}: expected a mapping with 'roles:' and/or 'overrides:' lists")
    unknown = set(doc) - {"version", "roles", "overrides"}
    if unknown:
        raise OwnerRulesError(f"{origin}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                              "(allowed: version, roles, overrides)")
    if doc.get("version", 1) != 1:
        raise OwnerRulesError(f"{origin}: version {doc.get('version')!r} is not supported (this droidtrack reads version 1)")
    # the line each list entry starts on: the composed node tree and the loaded document have
    # the same shape, so walk them side by side
    lines: dict[int, int] = {}
    for k, v in node.value:
        if k.value in ("roles", "overrides") and isinstance(doc.get(k.value), list):
            for n, item in zip(v.value, doc[k.value]):
                lines[id(item)] = n.start_mark.line + 1
    roles = []
    for item, where, line in _checked(doc, "roles", origin, lines):
        role = item.get("role")
        if role not in ROLES:
            raise OwnerRulesError(f"{where}: 'role' must be one of {', '.join(ROLES)}, not {role!r}")
        globs = {k: _globs(item[k], where, k) for k in ("process", "package") if k in item}
        uids = _uids(item["uid"], where) if "uid" in item else ()
        roles.append((_Match(line, _describe(item), globs, uids, origin), role))
    overrides = []
    for item, where, line in _checked(doc, "overrides", origin, lines):
        owner = item.get("owner")
        if not isinstance(owner, str) or not owner.strip():
            raise OwnerRulesError(f"{where}: 'owner' must name a package or a process")
        globs = {k: _globs(item[k], where, k) for k in OVERRIDE_KEYS if k in item}
        overrides.append((_Match(line, _describe(item), globs, (), origin), owner.strip()))
    return OwnerRules(tuple(roles), tuple(overrides), origin)


def _describe(item: dict) -> str:
    return ", ".join(f"{k}: {item[k]}" for k in item)


def load_owner_rules(path: str | None = None) -> OwnerRules:
    """The built-in rules, or the file `path`'s merged over them: its roles and overrides are
    tried first (the first match wins), the built-in ones after."""
    builtin = load_rule_file(None, parse_owner_rules, "owner_rules.yaml", OwnerRulesError, "owner rules file")
    if path is None:
        return builtin
    return merged(parse_owner_rules(read_user_file(path, OwnerRulesError, "owner rules file"), path), builtin)


def merged(mine: OwnerRules, base: OwnerRules) -> OwnerRules:
    """`mine` before `base`: a role or override of mine wins where both match."""
    return OwnerRules(mine.roles + base.roles, mine.overrides + base.overrides, mine.origin)


# ---- inference -----------------------------------------------------------------------------
# a dotted Java-package-like run inside a buffer name: candidates looked up among the device's packages
_PKG_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")


def _who(p: Process, role: str) -> str:
    return f"{p.label} ({role}{f', uid {p.uid}' if p.uid is not None else ''})"


def _list(who: dict[int, str], pids: list[int]) -> str:
    return ", ".join(who[x] for x in pids[:4]) + (f" and {len(pids) - 4} more" if len(pids) > 4 else "")


_APP_RULES = (NAMED, APP, APPS, LAST_APP)


def gralloc_names(snap: Snapshot, rows) -> tuple[dict[str, str], list[Problem]]:
    """Names from SurfaceFlinger's imported gralloc buffers (parse/surfaceflinger.GrallocBuffer)
    for the dma-bufs they are: the table has no inode, so a row joins by its exact allocation size,
    and only where that cannot be wrong — every row of that size says the same name, and as many
    buffers of that size are held by SurfaceFlinger as there are rows. Anything else is a problem
    that says what could not be joined, never a guess. -> ({buffer key: name}, problems)."""
    sf = {pid for pid, p in snap.processes.items() if p.name == "surfaceflinger" or
          (p.cmdline and p.cmdline[0].endswith("/surfaceflinger"))}
    by_size: dict[int, list[str]] = {}
    for r in rows:
        if getattr(r, "table", None) != "imported":
            continue
        size = r.alloc_size or r.size
        if size:
            by_size.setdefault(size, []).append(r.name)
    held: dict[int, list[str]] = {}
    for key, b in snap.buffers.items():
        if b.size in by_size and (not sf or sf & b.holders.keys()):
            held.setdefault(b.size, []).append(key)
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for size, names in sorted(by_size.items()):
        keys = held.get(size, [])
        distinct = sorted(set(names))
        # rows that name the same packages (a BufferQueue's buffers: Preview#0, Preview#1) agree
        # on whose they are, even where they cannot be told apart
        says = {frozenset(_PKG_TOKEN.findall(n)) or n for n in distinct}
        if len(says) == 1 and len(keys) == len(names):
            name = distinct[0] if len(distinct) == 1 else f"{distinct[0]} (or {', '.join(distinct[1:3])}" + \
                (", …)" if len(distinct) > 3 else ")")
            for k in keys:
                out[k] = name
        elif keys:
            problems.append(Problem("owners", f"{len(names)} gralloc buffers of {size} bytes ("
                                    + ", ".join(repr(n) for n in distinct[:3]) + (", …" if len(distinct) > 3 else "")
                                    + f") and {len(keys)} dma-bufs of that size SurfaceFlinger holds: "
                                    "not joined (no inode in the table, and size alone is ambiguous)"))
    return out, problems


def owners_of(snap: Snapshot) -> dict[str, Owner]:
    """The snapshot's owners: as it carries them, or (built by hand, or read from a document
    written before owners existed) inferred with the built-in rules."""
    own = snap.owners
    if own and len(own) == len(snap.buffers):
        return own
    return infer(snap).owners


def infer(snap: Snapshot, rules: OwnerRules | None = None,
          previous: dict[str, Owner] | None = None, names: dict[str, str] | None = None) -> Ownership:
    """`names`: other names of buffers (gralloc_names), read as evidence like the buffer's own."""
    rules = rules or load_owner_rules()
    procs = snap.processes
    # a holder whose status was never read (a document, a snapshot made by hand; build adds them)
    # is a process droidtrack knows nothing of: a service named by its pid
    held: set[int] = set()
    for b in snap.buffers.values():
        held.update(b.holders)
    missing = held - procs.keys()
    if missing:
        procs = {**procs, **{pid: Process(pid) for pid in missing}}
    # each process's facts once (Process.package is a regular expression; 2,000 processes, 60,000
    # holdings on a large device)
    pkg_of: dict[int, str | None] = {}
    role: dict[int, str] = {}
    who: dict[int, str] = {}
    app_key: dict[int, str] = {}           # an app holder's package (or its label, for an app by rule)
    by_pkg: dict[str, list[int]] = {}      # the processes of each package, lowest pid first
    for pid in sorted(procs):
        p = procs[pid]
        pkg = pkg_of[pid] = p.package
        r = role[pid] = rules.role_of(p)
        who[pid] = _who(p, r)
        if r == "app":
            app_key[pid] = pkg or p.label
        if pkg:
            by_pkg.setdefault(pkg, []).append(pid)
    # the process a package is charged to when none of its processes holds the buffer: its main
    # process (argv[0] is the package itself, no ":service"), else its lowest pid
    main: dict[str, int] = {}
    for pkg, pids in by_pkg.items():
        main[pkg] = next((x for x in pids if procs[x].cmdline[0] == pkg), pids[0])

    def holder_of(pkg: str, holders) -> int | None:
        m = main.get(pkg)
        if m is None or m in holders:
            return m
        return next((x for x in by_pkg[pkg] if x in holders), m)

    owners: dict[str, Owner] = {}
    problems: list[Problem] = []
    ambiguous = 0
    findall = _PKG_TOKEN.findall
    overrides = rules.overrides
    mk = _owner
    app_get = app_key.get
    for key, b in snap.buffers.items():
        holders = b.holders
        name = b.name
        named = sorted({t for t in findall(name) if t in by_pkg}) if name and by_pkg and "." in name else ()
        if names and not named and key in names:
            name = names[key]
            named = sorted({t for t in findall(name) if t in by_pkg})
        if not holders:
            # nobody holds it: its bytes are kernel-only (or unattributed) whatever its name says,
            # so that every byte is charged once; the package it was made for is kept as evidence
            prev = previous.get(key) if previous else None
            pkg = named[0] if len(named) == 1 else prev.package if prev is not None else None
            why = (f"; its name {name!r} names {pkg}" if len(named) == 1 else
                   f"; an earlier snapshot had {pkg} as its owner" if pkg else "")
            if b.holders_known:
                owners[key] = mk(None, pkg, "kernel", KERNEL, "no process holds it by fd or mapping" + why)
            else:
                owners[key] = mk(None, pkg, "unknown", UNATTRIBUTED,
                                    "no visible holder, and some processes could not be read" + why)
            continue
        if overrides:
            ov = rules.override_of(b)
            if ov is not None:
                m, owner = ov
                pid = main.get(owner)
                if pid is None:         # not a package: a process by name; None when it is not running
                    pid = next((x for x in sorted(procs) if owner in (procs[x].name, procs[x].label)), None)
                owners[key] = mk(pid, pkg_of.get(pid), owner, OVERRIDE, f"{m.origin or rules.origin} line {m.line}: {m.text}")
                continue
        if len(named) == 1:
            pkg = named[0]
            owners[key] = mk(holder_of(pkg, holders), pkg, pkg, NAMED,
                             f"{'buffer' if name == b.name else 'SurfaceFlinger gralloc'} name {name!r} names {pkg}")
            continue
        if named:
            problems.append(Problem("owners", f"buffer {key}: its name {name!r} names several packages "
                                    f"({', '.join(named)}): decided by who holds it instead"))
        pids = sorted(holders) if len(holders) > 1 else list(holders)
        # the apps among the holders, in one pass: the lowest pid's package, and every package
        first_pid = pkgs = None
        for x in pids:
            k = app_get(x)
            if k is not None:
                if pkgs is None:
                    first_pid, pkgs = x, [k]
                elif k not in pkgs:
                    pkgs.append(k)
        if pkgs is not None:
            first = pkgs[0]
            pid = holder_of(first, holders) if first in main else first_pid
            if len(pkgs) == 1:
                others = [x for x in pids if x not in app_key] if len(pids) > 1 else ()
                owners[key] = mk(pid, pkg_of[pid], first, APP, f"held by {who[pid]}"
                                    + (f"; shares it with {_list(who, others)}" if others else ""))
            else:
                ambiguous += 1
                if ambiguous <= 10:
                    problems.append(Problem("owners", f"buffer {key} is held by several apps "
                                            f"({', '.join(pkgs)}): charged to {first} (lowest pid)"))
                owners[key] = mk(pid, pkg_of[pid], first, APPS, "held by several apps: " + ", ".join(pkgs))
            continue
        prev = previous.get(key) if previous else None
        if prev is not None and prev.rule in _APP_RULES and prev.package:
            alive = prev.pid in procs and pkg_of[prev.pid] == prev.package
            pid = prev.pid if alive else main.get(prev.package)
            owners[key] = mk(pid, prev.package, prev.package, LAST_APP,
                                f"an earlier snapshot had {prev.package} as its owner ({prev.rule}); now held only by "
                                + _list(who, pids) + ("" if pid is not None else "; the app is gone"))
            continue
        services = [x for x in pids if role[x] != "allocator"]
        pick = (services or pids)[0]
        owners[key] = mk(pick, pkg_of[pick], procs[pick].label, SERVICE if services else ALLOCATOR,
                            "held only by " + _list(who, pids))
    if ambiguous > 10:
        problems.append(Problem("owners", f"{ambiguous - 10} more buffers are held by several apps"))
    return Ownership(owners, tuple(problems))
