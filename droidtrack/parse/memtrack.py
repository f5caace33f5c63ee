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

from droidtrack.parse._lines import MAX_LINE, Problems, numbered_lines, parser


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
# Rows and VMA lines only in the kernel's own widths ("%10d  %16d  %12zu", "%68lx-%08lx"): a row
# is at least 44 characters before its tag and a VMA line 94, so neither fits in a tag (at most
# 31 bytes, ION_MAX_TAG_LEN 32). A tag holding a newline cannot forge one; its other lines are
# read back into the tag (see _continues).
_ROW = re.compile(r"^(?P<ref> {0,9}-?\d+)  (?P<id> {0,15}-?\d+)  (?P<size> {0,11}\d+)(?:  (?P<tag>.*))?$")
_ROW_WIDTHS = (("ref", 10), ("id", 16), ("size", 12))
_VMA = re.compile(r"^(?P<start> {0,67}[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]{8,})  (?P<flags>[r-][w-][x-][sp][#-])"
                  r"  (?P<pgoff>[0-9a-fA-F]{8,})(?: +(?P<tag>.*))?$")
_DEBUG_HEADER = re.compile(r"^\s*pid\s+buffer_size\s+ref\s+Identifier\s+tag\s*$")
_DEBUG_ROW = re.compile(r"^(?P<pid> {0,3}-?\d+) (?P<size> {0,11}\d+) (?P<refs> {0,9}-?\d+) (?P<id> {0,11}-?\d+)"
                        r"(?: (?P<tag>.*))?$")
_DEBUG_WIDTHS = (("pid", 4), ("size", 12), ("refs", 10), ("id", 12))

# the longest tag the kernel keeps (ION_IOC_TAG forces tag[31] = 0)
MAX_TAG_BYTES = 31


def _kernel_widths(m: re.Match | None, widths) -> re.Match | None:
    if m is None:
        return None
    for g, w in widths:
        if len(m.group(g)) < w:
            return None
    return m


def _continues(tag: str | None, line: str) -> str | None:
    """`tag` + newline + `line` when that is still a tag the kernel could hold, else None."""
    whole = (tag or "") + "\n" + line
    return whole if len(whole.encode("utf-8", "surrogatepass")) <= MAX_TAG_BYTES else None


def _tag(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip()
    return None if s in ("", "(null)") else s


@parser("memtrack")
def parse(text: str, recs: list[MemtrackEntry], p: Problems) -> None:
    """`/proc/<pid>/memtrack` (one file, or several concatenated: each header sets the pid)."""
    pid: int | None = None
    with_vmas = False
    cur: dict | None = None
    open_tag: str | None = None     # raw tag of the line before, while a newline could continue it
    blanks = 0                      # blank lines since then (part of the tag if it goes on)

    def flush() -> None:
        if cur is not None:
            recs.append(MemtrackEntry(cur["pid"], cur["ref"], cur["id"], cur["size"], _tag(cur["tag"]),
                                      tuple(cur["vmas"])))

    for n, line in numbered_lines(text, p, MAX_LINE):
        s = line.strip()
        if not s:
            blanks += 1
            continue
        m = _HEADER.match(line)
        if m:
            flush()
            cur = None
            open_tag = None
            pid = int(m.group("pid"))
            with_vmas = m.group("vma") is not None
            continue
        m = _VMA.match(line)
        if m and len(m.group("start")) >= 68:
            if cur is None:
                p.skip(n, s, "VMA line without a buffer line before it; skipped")
                open_tag = None
            else:
                if not with_vmas:
                    p.add("VMA line under a header without VMA columns; kept", line=n, text=s)
                cur["vmas"].append((int(m.group("start"), 16), int(m.group("end"), 16),
                                    m.group("flags"), int(m.group("pgoff"), 16)))
                open_tag = m.group("tag")
                cur["in_row"] = False
            blanks = 0
            continue
        m = _kernel_widths(_ROW.match(line), _ROW_WIDTHS)
        if m:
            blanks = 0
            if pid is None:
                p.skip(n, s, "buffer line before any 'pid:' header; skipped")
                open_tag = None
                continue
            flush()
            cur = {"pid": pid, "ref": int(m.group("ref")), "id": int(m.group("id")),
                   "size": int(m.group("size")), "tag": m.group("tag"), "vmas": [], "in_row": True}
            open_tag = m.group("tag") or ""
            continue
        whole = None if open_tag is None else _continues(open_tag + "\n" * blanks, line)
        blanks = 0
        if whole is not None:
            # the tag of the line before goes on: a name with a newline, never a row of its own
            open_tag = whole
            if cur is not None and cur["in_row"]:
                cur["tag"] = whole
            p.add("a tag goes on past a newline: the next line is read as part of the name, not as a row",
                  line=n, text=s)
            continue
        open_tag = None
        p.skip(n, s)
    flush()


@parser("memtrack_debug")
def parse_debug(text: str, recs: list[MemtrackDebugEntry], p: Problems) -> None:
    """`/sys/kernel/debug/memtrack`: every tracked buffer with its allocating tgid."""
    rows: list[list] = []
    open_tag: str | None = None
    blanks = 0
    for n, line in numbered_lines(text, p, MAX_LINE):
        s = line.strip()
        if not s:
            blanks += 1
            continue
        if _DEBUG_HEADER.match(line):
            open_tag = None
            blanks = 0
            continue
        m = _kernel_widths(_DEBUG_ROW.match(line), _DEBUG_WIDTHS)
        if m:
            rows.append([int(m.group("pid")), int(m.group("size")), int(m.group("refs")),
                         int(m.group("id")), m.group("tag")])
            open_tag = m.group("tag") or ""
            blanks = 0
            continue
        whole = None if open_tag is None else _continues(open_tag + "\n" * blanks, line)
        blanks = 0
        if whole is not None:
            open_tag = rows[-1][4] = whole
            p.add("a tag goes on past a newline: the next line is read as part of the name, not as a row",
                  line=n, text=s)
            continue
        open_tag = None
        p.skip(n, s)
    recs.extend(MemtrackDebugEntry(pid, size, refs, ident, _tag(tag)) for pid, size, refs, ident, tag in rows)
