"""`/proc/<pid>/memtrack` and `/sys/kernel/debug/memtrack` of the 2016 memtrack RFC
(Ruchi Kandoi, never merged; formats.md §5). No real capture is public, so this follows the
patch's printf formats; treat it as an optional legacy source.

/proc/<pid>/memtrack (empty file — no header — when the process holds no buffer):
  v2/6:  header "%10.10s: %16.16s: %12.12s: %3.3s: pid:%d"  ref_count Identifier size tag
         row    "%10d  %16d  %12zu  %s"
  final: header "%10.10s: %16.16s: %12.12s: %12.12s: %20s: %5s: %8s: pid:%d"
                (… tag, startAddr-endAddr, Flags, pgOff)
         row    "%10d  %16d  %12zu  %12s"
         then per VMA of that buffer in this process
                "%68lx-%08lx  %c%c%c%c%c  %08llx"[ " " tag]   (start, end, rwxs/p + '#'/'-', pgoff)
/sys/kernel/debug/memtrack (CONFIG_MEMTRACK_DEBUG):
         header "%4.4s %12.12s %10s %12.12s %3.3s"  pid buffer_size ref Identifier tag
         row    "%4d %12zu %10d %12d %s"             allocating tgid, size, handles, id, tag
Sizes are bytes. Tags are free text (ION_IOC_TAG ≤ 31 chars) and may hold spaces.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from droidtrack.parse._lines import MAX_LINE, Problems, numbered_lines
from droidtrack.parse._lines import guard as _guard
from droidtrack.model.problems import ParseResult, Problem


@dataclass(frozen=True, slots=True)
class MemtrackEntry:
    pid: int
    ref_count: int        # processes holding the buffer (userspace_handles)
    ident: int            # the memtrack buffer id (IDR)
    size: int             # bytes
    tag: str | None
    vmas: tuple[tuple[int, int, str, int], ...] = ()   # (start, end, flags "rw-s-", pgoff)


@dataclass(frozen=True, slots=True)
class MemtrackDebugEntry:
    pid: int              # allocating tgid
    size: int
    refs: int
    ident: int
    tag: str | None


_HEADER = re.compile(r"^\s*ref_count:\s+Identifier:\s+size:\s+tag:\s+"
                     r"(?P<vma>startAddr-endAddr:\s+Flags:\s+pgOff:\s+)?pid:\s*(?P<pid>-?\d+)\s*$")
_ROW = re.compile(r"^\s*(?P<ref>-?\d+)\s+(?P<id>-?\d+)\s+(?P<size>\d+)(?:\s+(?P<tag>.*?))?\s*$")
_VMA = re.compile(r"^\s*(?P<start>[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]+)\s+(?P<flags>[r-][w-][x-][sp][#-])"
                  r"\s+(?P<pgoff>[0-9a-fA-F]+)(?:\s(?P<tag>.*))?$")
_DEBUG_HEADER = re.compile(r"^\s*pid\s+buffer_size\s+ref\s+Identifier\s+tag\s*$")
_DEBUG_ROW = re.compile(r"^\s*(?P<pid>-?\d+)\s+(?P<size>\d+)\s+(?P<refs>-?\d+)\s+(?P<id>-?\d+)"
                        r"(?:\s(?P<tag>.*))?$")


def _tag(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip()
    return None if s in ("", "(null)") else s


def parse(text: str) -> ParseResult:
    """`/proc/<pid>/memtrack` (one file, or several concatenated: each header sets the pid)."""
    return _guard("memtrack", _parse, text)


def _parse(text: str) -> ParseResult:
    recs: list[MemtrackEntry] = []
    p = Problems("memtrack")
    pid: int | None = None
    with_vmas = False
    cur: dict | None = None

    def flush() -> None:
        if cur is not None:
            recs.append(MemtrackEntry(cur["pid"], cur["ref"], cur["id"], cur["size"], cur["tag"],
                                      tuple(cur["vmas"])))

    for n, line in numbered_lines(text, p, MAX_LINE):
        s = line.strip()
        if not s:
            continue
        m = _HEADER.match(line)
        if m:
            flush()
            cur = None
            pid = int(m.group("pid"))
            with_vmas = m.group("vma") is not None
            continue
        m = _VMA.match(line)
        if m:
            if cur is None:
                p.skip(n, s, "VMA line without a buffer line before it; skipped")
            else:
                if not with_vmas:
                    p.add("VMA line under a header without VMA columns; kept", line=n, text=s)
                cur["vmas"].append((int(m.group("start"), 16), int(m.group("end"), 16),
                                    m.group("flags"), int(m.group("pgoff"), 16)))
            continue
        m = _ROW.match(line)
        if m:
            if pid is None:
                p.skip(n, s, "buffer line before any 'pid:' header; skipped")
                continue
            flush()
            cur = {"pid": pid, "ref": int(m.group("ref")), "id": int(m.group("id")),
                   "size": int(m.group("size")), "tag": _tag(m.group("tag")), "vmas": []}
            continue
        p.skip(n, s)
    flush()
    return ParseResult(recs, p.done())


def parse_debug(text: str) -> ParseResult:
    """`/sys/kernel/debug/memtrack`: every tracked buffer with its allocating tgid."""
    return _guard("memtrack_debug", _parse_debug, text)


def _parse_debug(text: str) -> ParseResult:
    recs: list[MemtrackDebugEntry] = []
    p = Problems("memtrack_debug")
    for n, line in numbered_lines(text, p, MAX_LINE):
        s = line.strip()
        if not s or _DEBUG_HEADER.match(line):
            continue
        m = _DEBUG_ROW.match(line)
        if m:
            recs.append(MemtrackDebugEntry(int(m.group("pid")), int(m.group("size")),
                                           int(m.group("refs")), int(m.group("id")),
                                           _tag(m.group("tag"))))
            continue
        p.skip(n, s)
    return ParseResult(recs, p.done())
