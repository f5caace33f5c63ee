"""The collector's `fdstat` section: `ls -i -L -n ROOT/proc/[0-9]*/fd/` (docs/capture-format.md).

Only on kernels whose fdinfo prints no `ino:` (5.3 to 5.13 without ACK's backport): there each
dma-buf has an inode of its own, and stat(2) through /proc/PID/fd/N (ls -L) is the only way to it.
For a dma-buf the size column is the buffer's size (the kernel sets the file's i_size).

Shape (toybox; busybox pads columns and prints `Mon DD HH:MM` dates and `fd/:` headers):

    /proc/123/fd:
    total 0
      4711 -rw------- 1 1000 1000 8294400 2024-05-01 10:00 17
     10023 crw-rw-rw- 1 0 0 1, 3 2024-05-01 10:00 0
    <blank line between directories>

Nothing in it is device text but numbers (fd names are decimal; -L prints no link targets), so
no buffer name can forge a line here. An fd whose link leads nowhere (a tree pulled from a phone:
its links name the phone's files) is printed by toybox as the link itself (`… 3 -> /dmabuf:x`), by
GNU ls with `?` in every column, and by busybox not at all (an error on STDERR): it is counted in `unresolved`, not as a bad line.
Lines that are not a header, `total`, blank or an entry are skipped and counted; an entry before
any header is skipped. The collector's lone-directory
helper line (an empty file listed before the directory) names no fd and is dropped quietly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from droidtrack.parse._lines import guard as _guard
from droidtrack.parse.grepout import is_decimal
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "fdstat"

_DATE = (r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} +[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: +[+-][0-9]{4})?"
         r"|[A-Z][a-z]{2} +[0-9]{1,2} +(?:[0-9]{2}:[0-9]{2}|[0-9]{4}))")
_ENTRY = re.compile(r" *([0-9]{1,20}) +[-dlcbpsD?][-rwxsStT?]{9}[.+@]? +[0-9]+ +\S+ +\S+ +"
                    r"([0-9]{1,20})(,\s*[0-9]+)? +" + _DATE + r" +(\S+)\Z")
_TOTAL = re.compile(r"total +[0-9]+\Z")
_UNRESOLVED = re.compile(r" *[0-9]{1,20} +l[-rwxsStT?]{9}[.+@]? +[0-9]+ +\S+ +\S+ +[0-9]{1,20} +" + _DATE
                         + r" +[0-9]{1,12} -> "
                         r"| *\? +l\?{9}[.+@]?(?: +\?)+ +[0-9]{1,12}\Z")   # GNU: every column "?"


@dataclass(frozen=True, slots=True)
class FdStat:
    pid: int
    fd: int
    inode: int
    size: int | None      # None for a device file (ls prints major, minor)


@dataclass
class FdStatResult(ParseResult[FdStat]):
    unresolved: int = 0   # fds whose link ls could not follow


def parse(text: str, root: str) -> FdStatResult:
    """`ls -i -L -n` of fd directories -> one FdStat per fd. Never raises."""
    res = _guard(SOURCE, _parse, text, root)
    return res if isinstance(res, FdStatResult) else FdStatResult(res.records, res.problems)


def _parse(text: str, root: str) -> FdStatResult:
    recs: list[FdStat] = []
    probs: list[Problem] = []
    pid: int | None = None
    skipped = unresolved = 0
    first_skip = 0
    prefix = root + "/proc/"
    for n, line in enumerate(text.split("\n"), 1):
        if not line or _TOTAL.match(line):
            continue
        if line.endswith(":"):
            path = line[:-1].rstrip("/")
            pid = None
            if path.startswith(prefix) and path.endswith("/fd"):
                seg = path[len(prefix):-3]
                if is_decimal(seg) and len(seg) <= 12:
                    pid = int(seg)
            if pid is None:
                skipped += 1
                first_skip = first_skip or n
            continue
        m = _ENTRY.match(line)
        if m is None and pid is not None and _UNRESOLVED.match(line):
            unresolved += 1
            continue
        if m is None:
            skipped += 1
            first_skip = first_skip or n
            continue
        name = m.group(4)
        if not is_decimal(name):
            continue          # the collector's empty helper file (`….e`), or anything not an fd
        if pid is None:
            skipped += 1
            first_skip = first_skip or n
            continue
        size = None if m.group(3) else int(m.group(2))
        recs.append(FdStat(pid, int(name), int(m.group(1)), size))
    if skipped:
        probs.append(Problem(SOURCE, f"{skipped} lines of the fd inode listing could not be read "
                             f"(first at line {first_skip}): those fds keep no inode", first_skip))
    return FdStatResult(recs, probs, unresolved)
