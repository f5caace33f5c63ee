"""dma-buf mappings from `/proc/<pid>/maps` and `/proc/<pid>/smaps` (formats.md §3).

A maps line: `"%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu "`, padding, then the path. For a
mapped dma-buf the path is the buffer file's d_dname:
- "/dmabuf:<name>" or "/dmabuf:" (5.3+ and ACK): the inode column identifies the buffer;
- "/dmabuf (deleted)" (2019 Android backport): unique inode, no name;
- "anon_inode:dmabuf" (older kernels): `legacy`, the inode is shared by every buffer.
maps escapes a newline in a path as "\\012" (seq_file_path with "\\n"); it is turned back into
"\\n" here (a name holding a literal backslash-012 cannot be told apart). d_dname paths never get
a " (deleted)" suffix appended, so a "/dmabuf:<name>" is taken verbatim.

The collector greps for " /dmabuf" and " anon_inode:dmabuf", which also matches files such as
"/dmabuf_test.so": such lines are neither records nor problems.

smaps: `grep -H -A 7` gives the VMA line then Size/KernelPageSize/MMUPageSize/Rss/Pss/... as
"PATH-" context lines, groups separated by "--". Rss and Pss are converted from kB to bytes.
(On the kernels tried, dma-buf VMAs show Rss 0: sizes must come from fdinfo/bufinfo/sysfs.)
"""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.parse.grepout import is_decimal, proc_parts, split_grep, to_base, to_int
from droidtrack.problems import ParseResult, Problem

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class DmabufMap:
    pid: int            # None only from parse_maps_file(text) called without a pid
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    name: str | None
    legacy: bool        # anon_inode:dmabuf (inode shared by all buffers)
    line: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class SmapsVma:
    pid: int
    start: int
    end: int
    inode: int
    rss: int | None     # bytes
    pss: int | None     # bytes
    line: int = 0


def _hex(s: str) -> int | None:
    if not s or len(s) > 32 or not _HEX.issuperset(s):
        return None
    return to_base(s, 16)


def parse_line(line: str):
    """(start, end, perms, offset, dev, inode, path) of a maps line, or None if it is not one."""
    parts = line.split(None, 5)
    if len(parts) < 5:
        return None
    a, dash, b = parts[0].partition("-")
    start, end = _hex(a), _hex(b)
    if not dash or start is None or end is None:
        return None
    perms = parts[1]
    if len(perms) != 4 or perms[0] not in "r-" or perms[1] not in "w-" or perms[2] not in "x-" \
            or perms[3] not in "sp":
        return None
    offset = _hex(parts[2])
    maj, colon, mnr = parts[3].partition(":")
    if offset is None or not colon or _hex(maj) is None or _hex(mnr) is None:
        return None
    if not is_decimal(parts[4]):
        return None
    inode = to_int(parts[4])
    if inode is None:
        return None
    path = parts[5] if len(parts) == 6 else ""
    return start, end, perms, offset, parts[3], inode, path


def dmabuf_path(path: str) -> tuple[bool, str | None, bool]:
    """(is a dma-buf VMA, name, legacy) for a maps path."""
    if path.startswith("/dmabuf:"):
        name = path[8:].replace("\\012", "\n")
        return True, (name or None), False
    if path in ("/dmabuf", "/dmabuf (deleted)"):
        return True, None, False
    if path == "anon_inode:dmabuf":
        return True, None, True
    return False, None, False


def _record(pid, parsed, lineno) -> DmabufMap | None:
    start, end, perms, offset, dev, inode, path = parsed
    ok, name, legacy = dmabuf_path(path)
    if not ok:
        return None
    return DmabufMap(pid, start, end, perms, offset, dev, inode, name, legacy, lineno)


def _pid_of_file(path: str, fname: str) -> int | None:
    pp = proc_parts(path)
    if pp is None or pp[1] != fname:
        return None
    return pp[0]


def parse_maps(text: str, root: str) -> ParseResult[DmabufMap]:
    """The collector's `maps` section ("ROOT/proc/PID/maps:<maps line>")."""
    out: ParseResult[DmabufMap] = ParseResult()
    probs = out.problems
    for i, path, content in split_grep(text, root, problems=probs, source="maps"):
        pid = _pid_of_file(path, "maps")
        if pid is None:
            probs.append(Problem("maps", "path is not /proc/<pid>/maps: skipped", line=i, text=content, path=path))
            continue
        parsed = parse_line(content)
        if parsed is None:
            probs.append(Problem("maps", "not a maps line: skipped", line=i, text=content, path=path))
            continue
        rec = _record(pid, parsed, i)
        if rec is not None:
            out.records.append(rec)
    return out


def parse_maps_file(text: str, pid: int | None = None) -> ParseResult[DmabufMap]:
    """One pasted maps file: its dma-buf lines become records; other mappings are ignored."""
    out: ParseResult[DmabufMap] = ParseResult()
    for i, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parsed = parse_line(line.strip())
        if parsed is None:
            if "dmabuf" in line:
                out.problems.append(Problem("maps", "line mentions dmabuf but is not a maps line: skipped",
                                            line=i, text=line))
            continue
        rec = _record(pid, parsed, i)
        if rec is not None:
            out.records.append(rec)
    return out


def _kb(value: str) -> int | None:
    v = value.strip()
    if v.endswith(" kB"):
        n = to_int(v[:-3])
        return None if n is None else n * 1024
    return None


def parse_smaps(text: str, root: str) -> ParseResult[SmapsVma]:
    """The collector's `smaps` section (`grep -H -A 7`): Rss/Pss of each dma-buf VMA, in bytes."""
    out: ParseResult[SmapsVma] = ParseResult()
    probs = out.problems
    grp = None      # [pid, start, end, inode, rss, pss, line]

    def finish():
        if grp is not None:
            out.records.append(SmapsVma(grp[0], grp[1], grp[2], grp[3], grp[4], grp[5], grp[6]))

    for i, path, content, is_ctx in split_grep(text, root, context=True, problems=probs, source="smaps"):
        if not is_ctx:
            finish()
            grp = None
            pid = _pid_of_file(path, "smaps")
            if pid is None:
                probs.append(Problem("smaps", "path is not /proc/<pid>/smaps: skipped", line=i, text=content,
                                     path=path))
                continue
            parsed = parse_line(content)
            if parsed is None:
                probs.append(Problem("smaps", "not a VMA line: skipped", line=i, text=content, path=path))
                continue
            if dmabuf_path(parsed[6])[0]:
                grp = [pid, parsed[0], parsed[1], parsed[5], None, None, i]
            continue
        if grp is None:
            continue
        key, sep, val = content.partition(":")
        if not sep or " " in key:
            if parse_line(content) is not None:
                finish()   # the next VMA (not a dma-buf): this group's fields end here
                grp = None
            continue
        if key == "Rss" and grp[4] is None:
            grp[4] = _kb(val)
            if grp[4] is None:
                probs.append(Problem("smaps", "Rss is not 'N kB': left unknown", line=i, text=content, path=path))
        elif key == "Pss" and grp[5] is None:
            grp[5] = _kb(val)
            if grp[5] is None:
                probs.append(Problem("smaps", "Pss is not 'N kB': left unknown", line=i, text=content, path=path))
    finish()
    return out
