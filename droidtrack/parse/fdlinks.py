"""The collector's `fdlinks` section: `ls -l ROOT/proc/[0-9]*/fd/` (formats.md §3).

Shape (toybox; busybox and GNU ls differ only in column widths, the date and a trailing '/' on
the header):

    /proc/123/fd:
    total 0
    lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 17 -> /dmabuf:name
    lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 18 -> anon_inode:sync_file
    <blank line between directories>

Targets that are dma-bufs: "/dmabuf:<name>" (5.3+; the name may be empty and may hold spaces,
colons and " -> "), "/dmabuf (deleted)" (2019 Android backport) and "anon_inode:dmabuf" (older
kernels): the last two carry no per-buffer identity (`legacy`). Every other link is counted per
pid in `other_fds`; links ls could not read (GNU prints no " -> ") in `unreadable_fds`.

Hostile names: ls prints a target holding a newline as is, so the rest arrives as a line of its
own. A line that is neither a header, "total", blank nor an `ls -l` line continues the previous
link's target; for a dma-buf it is joined to the name with "\\n" while the name stays within the
kernel's 31-byte limit, and a problem says so. A name could still spell a blank line plus a
directory header; since ls prints directories in sorted order, a header out of order marks both
listings it touches as unsure: their links are dropped (with a problem), never misattributed.
A lone directory is listed twice by the collector (so that ls prints its header): links are
deduplicated by (pid, fd).

`listed_pids` are the pids whose listing appeared with its "total" line. busybox prints the
header and "total 0" even for a directory it could not open, so the caller should also drop
pids that have an access error for their fd directory in the section's stderr (`stderr.py`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from droidtrack.parse._lines import NAME_MAX, name_bytes, slow_paths
from droidtrack.parse.grepout import is_decimal, record_builder
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "fdlinks"
_LS = re.compile(
    r"[-dlcbpsD?][-rwxsStTlL?]{9}[.+@]?\s+\d+\s+\S+\s+\S+\s+\d+(?:,\s*\d+)?\s+"
    r"(?:\d{4}-\d\d-\d\d\s+\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:\s+[+-]\d{4})?"
    r"|[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d\d:\d\d|\d{4}))"
    r" (.*)\Z", re.S)
_TOTAL = re.compile(r"total\s+\d+\Z")
# A symlink's `ls -l` line in the common shapes (toybox / GNU dates, single spaces around the
# date): every line it matches is also an _LS line with the same "<fd> -> <target>" rest.
_FAST_LINE = (r"l[-rwx]{9} +[0-9]{1,20} +\S+ +\S+ +[0-9]{1,20} +"
              r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}|[A-Z][a-z]{2} +[0-9]{1,2} +(?:[0-9]{2}:[0-9]{2}|[0-9]{4}))"
              r" ([0-9]{1,12}) -> ((/dmabuf:)?[^\n]*)")
_FAST_ENTRIES = re.compile("^" + _FAST_LINE + "$", re.M)
_LEGACY = frozenset(("/dmabuf (deleted)", "/dmabuf", "anon_inode:dmabuf"))
_fast_cache: dict[str, re.Pattern] = {}


def _fast_dir(root: str) -> re.Pattern:
    """A directory's header and total line (its symlink lines are read by _FAST_ENTRIES)."""
    pat = _fast_cache.get(root)
    if pat is None:
        pat = re.compile(re.escape(root) + r"(?P<key>/proc/(?P<pid>[0-9]{1,12})/fd)/?:\ntotal [0-9]{1,20}\n")
        if len(_fast_cache) > 64:
            _fast_cache.clear()
        _fast_cache[root] = pat
    return pat


@dataclass(frozen=True, slots=True)
class FdLink:
    pid: int
    fd: int
    target: str
    name: str | None    # name after "/dmabuf:", None if none
    legacy: bool        # anon_inode:dmabuf or "/dmabuf (deleted)": no per-buffer identity
    line: int = 0


@dataclass
class FdLinksResult(ParseResult[FdLink]):
    listed_pids: set[int] = field(default_factory=set)
    other_fds: dict[int, int] = field(default_factory=dict)        # pid -> non-dma-buf fds
    unreadable_fds: dict[int, int] = field(default_factory=dict)   # pid -> links ls could not read


_mk = record_builder(FdLink)



def classify(target: str) -> tuple[bool, str | None, bool]:
    """(is a dma-buf, name, legacy) for a readlink target."""
    if target.startswith("/dmabuf:"):
        name = target[8:]
        return True, (name if name else None), False
    if target in ("/dmabuf (deleted)", "/dmabuf", "anon_inode:dmabuf"):
        return True, None, True
    return False, None, False


class _Dir:
    __slots__ = ("pid", "key", "links", "other", "unreadable", "total", "suspect", "line")

    def __init__(self, pid: int, key: str, line: int):
        self.pid, self.key, self.line = pid, key, line
        self.links: dict[int, list] = {}   # fd -> [target, line]
        self.other: set[int] = set()
        self.unreadable: set[int] = set()
        self.total = False
        self.suspect = False


def _header_pid(line: str, root: str) -> tuple[int, str] | None:
    if not line.endswith(":") or not line.startswith(root + "/"):
        return None
    path = line[len(root):-1]
    if path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/proc/") or not path.endswith("/fd"):
        return None
    seg = path[6:-3]
    if not is_decimal(seg) or len(seg) > 12:
        return None
    return int(seg), path


def parse(text: str, root: str, *, fast: bool | None = None) -> FdLinksResult:
    """Read an `ls -l` listing of fd directories. A directory whose header follows a blank line
    (or starts the text) and whose lines are all symlinks in the common shape is read with one
    regular-expression match; everything else goes line by line (`fast=False`: every line), with
    the same records, counts and problems."""
    out = FdLinksResult()
    probs = out.problems
    dirs: list[_Dir] = []
    by_pid: dict[int, _Dir] = {}
    cur: _Dir | None = None
    prev_key: str | None = None
    last = None           # [dir, fd, target-is-dmabuf] of the previous ls line, for continuations
    last_blank = True
    blanks = 0
    if text and not text.endswith("\n"):
        text += "\n"    # the same lines: a final newline only ends the last one
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    def header(pid: int, key: str, i: int, line: str) -> None:
        nonlocal cur, prev_key, last
        if prev_key is not None and key < prev_key:
            probs.append(Problem(SOURCE, "directory headers out of sorted order: a link name may have forged "
                                 "a header; the links of both listings are dropped", line=i, text=line))
            if cur is not None:
                cur.suspect = True
            d = by_pid.get(pid) or _Dir(pid, key, i)
            d.suspect = True
        else:
            d = by_pid.get(pid) or _Dir(pid, key, i)
        if pid not in by_pid:
            by_pid[pid] = d
            dirs.append(d)
        elif key != prev_key and not d.suspect:
            d.suspect = True
            probs.append(Problem(SOURCE, "a directory is listed twice, apart: its links are dropped",
                                 line=i, text=line))
        cur = d
        prev_key = key
        last = None

    if fast is None:
        fast = not slow_paths()
    block = _fast_dir(root).match if fast and not (root + "/").startswith("l") else None
    entries = _FAST_ENTRIES.findall
    nlines = len(lines)
    idx = 0
    pos = 0                # offset of lines[idx] in text
    while idx < nlines:
        if last_blank and block is not None:
            m = block(text, pos)
            if m is not None:
                # the listing runs to the next blank line; it is read here only if every line of it
                # is a symlink line in the common shape
                hdr_end = m.end()
                k = text.find("\n\n", hdr_end - 1)
                body = text[hdr_end:] if k < 0 else text[hdr_end:k + 1]
                rows = entries(body) if body else ()
                if len(rows) != body.count("\n"):
                    m = None
            if m is not None:
                i = idx + 1
                blanks = 0
                last_blank = False
                key = m.group("key")
                header(int(m.group("pid")), key, i, text[pos:text.find("\n", pos)])
                d = cur
                d.total = True
                links, other = d.links, d.other
                if rows:
                    ln = i + 1
                    fd = 0
                    is_dmabuf = False
                    for fdtxt, target, named in rows:
                        ln += 1
                        fd = int(fdtxt)
                        if fd in links or fd in other:
                            is_dmabuf = False
                            continue
                        if named or target in _LEGACY:
                            links[fd] = [target, ln]
                            is_dmabuf = True
                        else:
                            other.add(fd)
                            is_dmabuf = False
                    last = [d, fd, is_dmabuf]
                end = hdr_end + len(body)
                idx += 2 + len(rows)
                pos = end
                continue
        line = lines[idx]
        idx += 1
        i = idx
        pos += len(line) + 1
        if line == "":
            last_blank = True
            blanks += 1
            continue
        was_blank, last_blank = last_blank, False
        nblank, blanks = blanks, 0
        hp = _header_pid(line, root)
        if hp is not None and was_blank:
            header(hp[0], hp[1], i, line)
            continue
        if _TOTAL.match(line):
            if cur is not None:
                cur.total = True
            last = None
            continue
        m = _LS.match(line)
        if m is not None and cur is not None:
            rest = m.group(1)
            fdtxt, arrow, target = rest.partition(" -> ")
            if not is_decimal(fdtxt) or len(fdtxt) > 12:
                probs.append(Problem(SOURCE, "entry name is not an fd number: skipped", line=i, text=line))
                last = None
                continue
            fd = int(fdtxt)
            if not line.startswith("l") or not arrow:
                if line.startswith("l"):
                    cur.unreadable.add(fd)
                else:
                    probs.append(Problem(SOURCE, "entry is not a symlink: skipped", line=i, text=line))
                last = None
                continue
            if fd in cur.links or fd in cur.other:
                last = [cur, fd, False]   # the lone directory listed twice: the first listing is kept
                continue
            is_dmabuf = classify(target)[0]
            if is_dmabuf:
                cur.links[fd] = [target, i]
            else:
                cur.other.add(fd)
            last = [cur, fd, is_dmabuf]
            continue
        if m is not None:
            probs.append(Problem(SOURCE, "ls line before any directory header: skipped", line=i, text=line))
            continue
        # neither header, total, blank nor ls line: the rest of a target holding a newline
        if last is not None:
            d, fd, is_dmabuf = last
            if is_dmabuf and not d.suspect and fd in d.links:
                target = d.links[fd][0]
                ok, name, legacy = classify(target)
                tail = "\n" * (nblank + 1) + line
                if not legacy and name_bytes((name or "") + tail) <= NAME_MAX:
                    d.links[fd][0] = target + tail
                    probs.append(Problem(SOURCE, "a dma-buf name holds a newline: the next line was joined with \\n",
                                         line=i, text=line))
                    continue
                probs.append(Problem(SOURCE, "line after a dma-buf link is too long to continue its 31-byte name: "
                                     "skipped", line=i, text=line))
                last = [d, fd, False]
                continue
            # continuation of a non-dma-buf target (a file name with a newline): nothing to keep
            continue
        probs.append(Problem(SOURCE, "unrecognized line: skipped", line=i, text=line))

    mk = _mk
    append = out.records.append
    for d in dirs:
        if d.suspect:
            continue
        if d.total:
            out.listed_pids.add(d.pid)
        if d.other:
            out.other_fds[d.pid] = len(d.other)
        if d.unreadable:
            out.unreadable_fds[d.pid] = len(d.unreadable)
        pid = d.pid
        for fd, (target, ln) in d.links.items():
            # only dma-buf targets are kept: "/dmabuf:<name>" or a legacy spelling (= classify())
            if target[:8] == "/dmabuf:":
                append(mk(pid, fd, target, target[8:] or None, False, ln))
            else:
                append(mk(pid, fd, target, None, True, ln))
    return out


# ---- the pipeline's fast path: each directory's dma-buf fds, no records --------------------------
# _FAST_LINE with a canonical fd and, instead of the target, what kind of dma-buf link it is:
# "/dmabuf:" (named), a legacy spelling, or nothing (another file). (No possessive quantifiers:
# Python 3.10 has none.)
_DMA_ENTRIES = re.compile(
    r"^l[-rwx]{9} +[0-9]{1,20} +\S+ +\S+ +[0-9]{1,20} +"
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}|[A-Z][a-z]{2} +[0-9]{1,2} +(?:[0-9]{2}:[0-9]{2}|[0-9]{4}))"
    r" (0|[1-9][0-9]{0,11}) -> (/dmabuf:|/dmabuf \(deleted\)$|/dmabuf$|anon_inode:dmabuf$)?[^\n]*$", re.M)


def dmabuf_fds(text: str, root: str) -> list[tuple[int, dict[int, bool]]] | None:
    """For the pipeline, which needs only which dma-buf fds each process holds: when every directory
    of the listing is one `parse` reads with its fast match (a header after a blank line or at the
    start, its total line, symlink lines in the common shape only), the headers in strictly
    increasing order with no pid twice and no fd twice in a directory: [(pid, {fd: legacy})] for
    every directory, in order, the dict holding the dma-buf links (legacy: anon_inode:dmabuf or
    "/dmabuf (deleted)"). `parse` gives such a text these links and listed pids, and no problem.
    None for any other text (and under DROIDTRACK_SLOW_PATHS=1): then `parse` is the reader."""
    if (root + "/").startswith("l") or slow_paths():
        return None                       # parse's fast path is off for such a root
    if not text:
        return []
    if not text.endswith("\n"):
        text += "\n"
    head = _fast_dir(root).match
    rows_of = _DMA_ENTRIES.findall
    blocks = text.split("\n\n")
    last = len(blocks) - 1
    out = []
    append = out.append
    seen: set[int] = set()
    prev = None
    for i, blk in enumerate(blocks):
        if i < last:
            blk += "\n"
        m = head(blk)
        if m is None:
            return None
        key, pid = m.group("key", "pid")
        pid = int(pid)
        if (prev is not None and key <= prev) or pid in seen:
            return None                   # out of order, or a directory twice: parse says so
        prev = key
        seen.add(pid)
        end = m.end()
        rows = rows_of(blk, end)
        if len(rows) != blk.count("\n", end) or len(set([r[0] for r in rows])) != len(rows):
            return None
        append((pid, {int(fd): kind != "/dmabuf:" for fd, kind in rows if kind}))
    return out


# ---- one record type for the feeder ----------------------------------------------------------------
@dataclass
class FdLinksTable:
    """Which dma-buf fds each listed process holds, whichever path read the listing."""
    links: dict[int, dict[int, bool]]    # pid -> dma-buf fd -> legacy (no per-buffer identity)
    listed: list[int]                    # every pid whose fd directory was listed, in order
    problems: list[Problem] = field(default_factory=list)


def read(text: str, root: str) -> FdLinksTable:
    dirs = dmabuf_fds(text, root)
    if dirs is not None:
        return FdLinksTable({pid: links for pid, links in dirs if links}, [pid for pid, _ in dirs])
    res = parse(text, root)
    links: dict[int, dict[int, bool]] = {}
    for l in res.records:
        links.setdefault(l.pid, {})[l.fd] = l.legacy
    return FdLinksTable(links, list(res.listed_pids), res.problems)
