"""Pseudonyms for reports that leave a company: `--redact`.

What is replaced (docs/report.md lists the same, keep them in step):

- process names (comm) and command lines: argv[0] becomes a pseudonym (an app's package and its
  ":service" suffix separately, so processes of one app still share the package pseudonym; a path
  keeps its directory, "/vendor/bin/hw/" says something useful and nothing secret); further
  arguments are dropped;
- buffer names (they can carry package or surface names): every non-empty name;
- owners (model/owners.py): the owner's name and package as the process or package they name,
  and every known name in the evidence;
- the device serial;
- the snapshot's origin (a local path) keeps only its kind ("capture", "root", ...);
- problems: the quoted device text is dropped and every known original name in the message,
  detail or path is replaced by its pseudonym; the same in source details.

Kept: sizes, inodes, pids, uids, exporters (kernel heap names), attached device names, tags and
the rule that gave them (tags are computed before redaction, from the real names), model,
manufacturer, build fingerprint, kernel and Android version.

A pseudonym is `<kind>-<10 base32 chars>` (`pkg.<…>` for packages, so that it still reads as a
package) of HMAC-SHA256(salt, kind NUL value): the same value
gets the same pseudonym everywhere in one report (and across reports made with the same salt);
without the salt nobody can test a guess. The salt is random per report unless the user gives
one; it is never written into the report.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import re
from typing import Iterable

from droidtrack.model import Buffer, Owner, Process, Snapshot, SourceStatus
from droidtrack.model.problems import Problem

_PKG_RE = re.compile(r"^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$")


class Redactor:
    def __init__(self, salt: bytes | str | None = None) -> None:
        if salt is None:
            salt = os.urandom(32)
            self.salt_kind = "random per report (not stored)"
        else:
            self.salt_kind = "given by the user (not stored)"
        if isinstance(salt, str):
            salt = salt.encode("utf-8", "surrogatepass")
        self._salt = salt
        self._by_value: dict[tuple[str, str], str] = {}
        self._taken: dict[str, tuple[str, str]] = {}
        # original string -> pseudonym, for replacing names inside free text (problem messages)
        self.mapping: dict[str, str] = {}

    # -- the primitive ---------------------------------------------------------------------------

    def pseudonym(self, kind: str, value: str) -> str:
        key = (kind, value)
        got = self._by_value.get(key)
        if got is not None:
            return got
        digest = hmac.new(self._salt, f"{kind}\0{value}".encode("utf-8", "surrogatepass"),
                          hashlib.sha256).digest()
        b32 = base64.b32encode(digest).decode().lower().rstrip("=")
        n = 10
        while True:
            # a package pseudonym keeps a dot, so it is still recognised as a package (and grouped)
            p = f"{kind}{'.' if kind == 'pkg' else '-'}{b32[:n]}"
            if p not in self._taken or self._taken[p] == key:
                break
            n += 2  # a collision of 50 bits: take more of the digest, still deterministic
        self._by_value[key] = p
        self._taken[p] = key
        if value:
            self.mapping.setdefault(value, p)
        return p

    # -- names -----------------------------------------------------------------------------------

    def argv0(self, a0: str) -> str:
        if not a0:
            return a0
        if "/" in a0:
            d, _, base = a0.rpartition("/")
            return f"{d}/{self._exe(base)}" if base else a0
        pkg, colon, svc = a0.partition(":")
        if _PKG_RE.match(pkg):
            out = self.pseudonym("pkg", pkg)
            if colon:
                out += ":" + (self.pseudonym("svc", svc) if svc else "")
            self.mapping.setdefault(a0, out)
            return out
        return self._exe(a0)

    def _exe(self, base: str) -> str:
        return self.pseudonym("proc", base)

    def comm(self, name: str, cmdline: tuple[str, ...]) -> str:
        """comm is argv[0]'s basename cut to 15 characters (apps: the package's last 15): give it
        the same pseudonym as the argv[0] it came from, so one process has one name."""
        if not name:
            return name
        if cmdline and cmdline[0]:
            a0 = cmdline[0]
            base = a0.rpartition("/")[2]
            if base == name:
                return self.argv0(a0).rpartition("/")[2]
            if base.startswith(name) or base.endswith(name):
                full = self.argv0(a0).rpartition("/")[2]
                self.mapping.setdefault(name, full)
                return full
        return self._exe(name)

    def buffer_name(self, name: str | None) -> str | None:
        if not name:
            return name
        return self.pseudonym("name", name)

    def text(self, s: str | None) -> str | None:
        """Replace every known original name inside free text (longest first)."""
        if not s or not self.mapping:
            return s
        for orig in sorted(self.mapping, key=len, reverse=True):
            if len(orig) >= 3 and orig in s:
                s = s.replace(orig, self.mapping[orig])
        return s

    # -- whole objects ---------------------------------------------------------------------------

    def process(self, p: Process) -> Process:
        cmd = (self.argv0(p.cmdline[0]),) if p.cmdline else ()
        return dataclasses.replace(p, name=self.comm(p.name, p.cmdline), cmdline=cmd)

    def buffer(self, b: Buffer) -> Buffer:
        return dataclasses.replace(b, name=self.buffer_name(b.name))

    def owner(self, o: Owner) -> Owner:
        """An owner's name is a package, a process label (argv[0] or comm), a name from the user's
        rules, or "kernel"/"unknown": each gets the pseudonym of the process or package it names."""
        name = o.name if o.name in ("kernel", "unknown") else self.argv0(o.name)
        return dataclasses.replace(o, name=name, package=self.argv0(o.package) if o.package else o.package,
                                   evidence=self.text(o.evidence) or "")

    def snapshot(self, s: Snapshot) -> Snapshot:
        procs = {pid: self.process(p) for pid, p in s.processes.items()}
        bufs = {k: self.buffer(b) for k, b in s.buffers.items()}
        owners = {k: self.owner(o) for k, o in s.owners.items()}
        dev = s.device
        if dev.serial:
            dev = dataclasses.replace(dev, serial=self.pseudonym("serial", dev.serial))
        problems = tuple(self.problem(p) for p in s.problems)
        sources = {k: SourceStatus(v.status, self.text(v.detail) or "") for k, v in s.sources.items()}
        origin = s.origin.split(":", 1)[0] + (":[redacted]" if ":" in s.origin else "")
        return dataclasses.replace(s, processes=procs, buffers=bufs, device=dev, problems=problems,
                                   sources=sources, origin=origin, owners=owners)

    def problem(self, p: Problem) -> Problem:
        return Problem(p.source, self.text(p.message) or "", line=p.line,
                       text=None if p.text is None else "[redacted]", path=self.text(p.path))

    def snapshots(self, snaps: Iterable[Snapshot]) -> list[Snapshot]:
        snaps = list(snaps)
        # names first, over every snapshot, so that free text in any of them knows all names
        for s in snaps:
            for p in s.processes.values():
                self.process(p)
            for b in s.buffers.values():
                self.buffer_name(b.name)
        return [self.snapshot(s) for s in snaps]
