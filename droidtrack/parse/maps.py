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

import re
from dataclasses import dataclass, field
from itertools import repeat

from droidtrack.parse._lines import slow_paths, to_int
from droidtrack.parse.grepout import Ints, is_decimal, proc_parts, record_builder, to_base
from droidtrack.model.problems import ParseResult, Problem, ProblemLog

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
    """A dma-buf VMA's group in smaps: its VMA line (the same line maps prints) and Rss/Pss."""
    pid: int
    start: int
    end: int
    inode: int
    rss: int | None     # bytes
    pss: int | None     # bytes
    line: int = 0
    perms: str = ""
    offset: int = 0
    dev: str = ""
    name: str | None = None
    legacy: bool = False


_mk_map = record_builder(DmabufMap)
_mk_vma = record_builder(SmapsVma)


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


_fast_cache: dict[tuple[str, str], "re.Pattern"] = {}

# A maps line exactly as the kernel prints it for a dma-buf VMA (lower-case hex, single spaces,
# space padding before the path); anything else goes through `parse_line`.
_VMA = (r"(?P<s>[0-9a-f]{1,16})-(?P<e>[0-9a-f]{1,16}) (?P<perms>[r-][w-][x-][sp]) (?P<off>[0-9a-f]{1,16}) "
        r"(?P<dev>[0-9a-f]{1,8}:[0-9a-f]{1,8}) (?P<ino>[0-9]{1,19}) +"
        r"(?:/dmabuf:(?P<name>[^\n]*)|(?P<plain>/dmabuf|/dmabuf \(deleted\))|(?P<anon>anon_inode:dmabuf))")


def _fast(kind: str, root: str) -> "re.Pattern":
    pat = _fast_cache.get((kind, root))
    if pat is None:
        p = "(?P<p>" + re.escape(root) + "/proc/(?P<pid>[0-9]{1,12})/" + kind + ")"
        if kind == "maps":
            pat = re.compile(p + ":" + _VMA + r"\Z")
        else:
            other = r"(?:(?P=p)-(?!Rss:|Pss:)[A-Za-z_]{1,64}:[^\n]*\n){0,16}"
            pat = re.compile(
                p + ":" + _VMA + r"\n" + other
                + r"(?P=p)-Rss:[ ]{1,64}(?P<rss>[0-9]{1,19}) kB\n" + other
                + r"(?P=p)-Pss:[ ]{1,64}(?P<pss>[0-9]{1,19}) kB\n"
                + r"(?:(?P=p)-[A-Za-z_]{1,64}:[^\n]*\n){0,16}(?P<sep>--\n)?")
        if len(_fast_cache) > 64:
            _fast_cache.clear()
        _fast_cache[(kind, root)] = pat
    return pat


def _section_setup(kind: str, root: str, fast: bool | None):
    """What parse_maps and parse_smaps read a section with: the "ROOT/" prefix, the lengths of the
    root and the prefix, and the fast path's match (None on the slow path: `fast=False`, or
    DROIDTRACK_SLOW_PATHS=1 when `fast` is None)."""
    if fast is None:
        fast = not slow_paths()
    prefix = root + "/"
    return prefix, len(root), len(prefix), _fast(kind, root).match if fast else None


def _no_match(_line: str) -> None:
    return None


def parse_maps(text: str, root: str, *, fast: bool | None = None) -> ParseResult[DmabufMap]:
    """The collector's `maps` section ("ROOT/proc/PID/maps:<maps line>").

    A dma-buf line in the kernel's exact shape is read with one regular-expression match; every
    other line goes through `split_grep`'s rules and `parse_line` (`fast=False` sends every line
    that way: both give the same records and problems).
    """
    out: ParseResult[DmabufMap] = ParseResult()
    probs = out.problems
    recs = out.records
    mk = _mk_map
    prefix, rlen, plen, match = _section_setup("maps", root, fast)
    if match is None:
        match = _no_match
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, 1):
        m = match(line)
        if m is not None:
            _p, pid, s, e, perms, off, dev, ino, name, _plain, anon = m.groups()
            if name is not None:
                name = (name.replace("\\012", "\n") if "\\" in name else name) or None
            recs.append(mk(int(pid), int(s, 16), int(e, 16), perms, int(off, 16), dev, int(ino), name,
                           anon is not None, i))
            continue
        # split_grep's rules for one line
        if not line.startswith(prefix):
            probs.append(Problem("maps", "line does not start with the collector's root path: skipped",
                                 line=i, text=line))
            continue
        j = line.find(":", plen)
        if j < 0:
            probs.append(Problem("maps", "no ':' after the file path: skipped", line=i, text=line))
            continue
        path, content = line[rlen:j], line[j + 1:]
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
            recs.append(rec)
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
        n = to_int(v[:-3], signed=True)
        return None if n is None else n * 1024
    return None


def parse_smaps(text: str, root: str, *, fast: bool | None = None) -> ParseResult[SmapsVma]:
    """The collector's `smaps` section (`grep -H -A 7`): Rss/Pss of each dma-buf VMA, in bytes.

    A dma-buf VMA's group in the kernel's exact shape (VMA line, "PATH-Key: ..." context lines with
    Rss before Pss, optional "--") is read with one regular-expression match, when nothing after
    it continues the group; everything else goes line by line (`fast=False`: every line), with the
    same records and problems.
    """
    out: ParseResult[SmapsVma] = ParseResult()
    probs = out.problems
    recs = out.records
    mk = _mk_vma
    prefix, rlen, plen, match = _section_setup("smaps", root, fast)
    if text and not text.endswith("\n"):
        text += "\n"    # the same lines: a final newline only ends the last one
    n = len(text)
    count = text.count
    find = text.find
    startswith = text.startswith
    pos = 0
    i = 0                # number of the line starting at pos, minus one
    cur = None           # split_grep's state: "ROOT/path" of the current group's match line
    curlen = 0
    grp = None           # [pid, start, end, inode, rss, pss, line] of a dma-buf VMA read line by line

    while pos < n:
        if match is not None:
            m = match(text, pos)
            if m is not None:
                p, pid, s, e, perms, off, dev, ino, name, _plain, anon, rss, pss, sep = m.groups()
                end = m.end()
                if sep is not None or not startswith(p, end) or not startswith("-", end + len(p)):
                    if grp is not None:
                        recs.append(mk(*grp))
                        grp = None
                    if name is not None:
                        name = (name.replace("\\012", "\n") if "\\" in name else name) or None
                    recs.append(mk(int(pid), int(s, 16), int(e, 16), int(ino), int(rss) * 1024, int(pss) * 1024,
                                   i + 1, perms, int(off, 16), dev, name, anon is not None))
                    i += count("\n", pos, end)
                    pos = end
                    if sep is None:
                        cur, curlen = p, len(p)
                    else:
                        cur = None
                    continue
        e = find("\n", pos)
        line = text[pos:e]
        pos = e + 1
        i += 1
        # split_grep's context-mode rules for one line
        if not line.startswith(prefix):
            if line == "--":
                cur = None
                continue
            probs.append(Problem("smaps", "line does not start with the collector's root path: skipped",
                                 line=i, text=line))
            continue
        is_ctx = None
        if cur is not None and line.startswith(cur) and len(line) > curlen:
            c = line[curlen]
            if c == "-":
                is_ctx = True
            elif c == ":":
                is_ctx = False
            if is_ctx is not None:
                path, content = cur[rlen:], line[curlen + 1:]
        if is_ctx is None:
            j = line.find(":", plen)
            if j < 0:
                probs.append(Problem("smaps", "no ':' after the file path: skipped", line=i, text=line))
                continue
            path = line[rlen:j]
            if path.startswith("/proc/") and "-" in path:
                probs.append(Problem("smaps", "context line outside any match group: skipped", line=i, text=line))
                continue
            cur = line[:j]
            curlen = j
            content = line[j + 1:]
            is_ctx = False
        # the smaps rules
        if not is_ctx:
            if grp is not None:
                recs.append(mk(*grp))
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
            ok, name, legacy = dmabuf_path(parsed[6])
            if ok:
                grp = [pid, parsed[0], parsed[1], parsed[5], None, None, i, parsed[2], parsed[3], parsed[4], name,
                       legacy]
            continue
        if grp is None:
            continue
        key, sep_, val = content.partition(":")
        if not sep_ or " " in key:
            if parse_line(content) is not None:
                # the next VMA (not a dma-buf): this group's fields end here
                recs.append(mk(*grp))
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
    if grp is not None:
        recs.append(mk(*grp))
    return out


# ---- the pipeline's fast path: every smaps group's fields, no records ---------------------------
VMA_FIELDS = 12   # pid, start, end, perms, offset, dev, inode, name, plain, anon, rss, pss (strings)


def vma_rows(text: str, root: str) -> list[str | None] | None:
    """For the pipeline, which joins mappings without DmabufMap/SmapsVma records: when every group of
    the collector's `smaps` section is one `parse_smaps` reads with its regular expression (a
    dma-buf VMA line in the kernel's shape, its Rss and Pss in kB), one after the other with
    nothing between them, and no (pid, start) comes twice: the groups' fields as a flat list,
    VMA_FIELDS strings per group in order (name is maps' raw text: "\\012" for a newline; plain and
    anon are the path when it is "/dmabuf[ (deleted)]" or "anon_inode:dmabuf"). None otherwise:
    then parse_smaps (and parse_maps over the VMA lines) are the readers. They give such a text
    the same values and no problem; v2's `maps` section is exactly these groups' VMA lines.
    Always None under DROIDTRACK_SLOW_PATHS=1."""
    if slow_paths():
        return None
    if not text:
        return []
    if not text.endswith("\n"):
        text += "\n"                      # as parse_smaps does
    parts = _fast("smaps", root).split(text)
    step = 15                             # a gap and 14 groups (p, ..., sep)
    if any(parts[::step]):
        return None
    del parts[::step]
    del parts[::14]                       # p
    del parts[12::13]                     # sep
    n = len(parts) // VMA_FIELDS
    if len(set(zip(map(int, parts[::VMA_FIELDS]), map(int, parts[1::VMA_FIELDS], repeat(16, n))))) != n:
        return None                       # a VMA read twice: parse_smaps keeps the last one's Rss
    return parts


# ---- one record type for the feeder: columns, whichever path read them -------------------------
@dataclass
class VmaTable:
    """Every dma-buf mapping read, one list per field, in the order read, with its Rss and Pss in
    bytes (None where smaps did not say): what `read` (v1: maps + smaps) and `read_smaps` (v2:
    smaps alone) give, from a fast path or from records, the same either way."""
    pids: list[int | None]      # None: a pasted file whose process is not known
    starts: list[int]
    ends: list[int]
    offsets: list[int]
    perms: list[str]
    inodes: list[int]
    names: list[str | None]
    legacy: list[bool]          # anon_inode:dmabuf: no per-buffer identity
    rss: list[int | None]
    pss: list[int | None]
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pids)


def _table(recs, rss, pss, problems) -> VmaTable:
    return VmaTable([r.pid for r in recs], [r.start for r in recs], [r.end for r in recs],
                    [r.offset for r in recs], [r.perms for r in recs], [r.inode for r in recs],
                    [r.name for r in recs], [r.legacy for r in recs], rss, pss, problems)


def read(maps_text: str | None, smaps_text: str | None, root: str) -> VmaTable:
    """v1: the maps section's dma-buf VMAs, with Rss and Pss from the smaps section's groups."""
    problems = ProblemLog()
    by_start: dict[tuple[int, int], SmapsVma] = {}
    if smaps_text is not None:
        res = parse_smaps(smaps_text, root)
        problems.extend(res.problems)
        for v in res.records:
            by_start[(v.pid, v.start)] = v
    recs: list[DmabufMap] = []
    if maps_text is not None:
        res = parse_maps(maps_text, root)
        problems.extend(res.problems)
        recs = res.records
    sv = [by_start.get((m.pid, m.start)) for m in recs]
    return _table(recs, [None if v is None else v.rss for v in sv], [None if v is None else v.pss for v in sv],
                  problems)


def read_file(text: str, pid: int | None = None) -> VmaTable:
    """One pasted maps file (parse_maps_file) as the feeder reads it: no Rss or Pss."""
    res = parse_maps_file(text, pid)
    none = [None] * len(res.records)
    return _table(res.records, none, list(none), res.problems)


def read_smaps(smaps_text: str, root: str) -> VmaTable:
    """v2: the smaps groups alone (v2's maps section only names the files): `vma_rows` where every
    group is in the kernel's shape, else `parse_smaps`'s records."""
    flat = vma_rows(smaps_text, root)
    if flat is None:
        res = parse_smaps(smaps_text, root)
        recs = res.records
        return _table(recs, [r.rss for r in recs], [r.pss for r in recs], res.problems)
    n = VMA_FIELDS
    dec = Ints()
    hexa = Ints(16)
    names = [None if v is None else ((v.replace("\\012", "\n") if "\\" in v else v) or None) for v in flat[7::n]]
    kib = [v * 1024 for v in map(dec.__getitem__, flat[10::n])]
    return VmaTable(list(map(dec.__getitem__, flat[::n])), list(map(int, flat[1::n], repeat(16))),
                    list(map(int, flat[2::n], repeat(16))), list(map(hexa.__getitem__, flat[4::n])), flat[3::n],
                    list(map(int, flat[6::n])), names, [v is not None for v in flat[9::n]],
                    kib, [v * 1024 for v in map(dec.__getitem__, flat[11::n])])
