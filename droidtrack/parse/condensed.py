"""Rows of a table that someone condensed by hand before pasting it: columns replaced with `...`
(or `…`), the header kept. Such a row is no longer what the tool printed, so the format's own
parser skips it; when the header names the columns, the cells that are left still say what they
said. This reads them, and says which columns were elided.

    size    flags   mode    count   exp_name  ino       name          <- the kernel's header
    8294400  ...  ...  ...  system  00012345 gralloc:SurfaceView       <- size, exporter, inode, name

A row is read only when it has one cell per column (each elided column one `...`), the last
column taking the rest of the line (names may hold spaces) or, with `first_takes_rest`, the
first one (dmabuf_dump's right-aligned names). Anything else is left to the format's parser,
which skips it with a problem: nothing is guessed.
"""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.parse._lines import MAX_LINE

ELIDED = frozenset({"...", "…", "....", "[...]", "(...)"})


def is_elided(cell: str) -> bool:
    return cell in ELIDED


@dataclass(frozen=True, slots=True)
class CondensedRow:
    line: int                          # 1-based
    cells: dict[str, str]              # column -> the text left in it
    elided: tuple[str, ...]            # columns replaced by "..."


def has_elision(line: str) -> bool:
    return "..." in line or "…" in line


def read_row(line: str, columns: list[str], n: int, *, first_takes_rest: bool = False) -> CondensedRow | None:
    """One condensed row under a header of `columns`; None unless it is one (see module doc)."""
    if len(line) > MAX_LINE or not has_elision(line):
        return None
    k = len(columns)
    toks = line.split()
    if len(toks) < k or not any(is_elided(t) for t in toks):
        return None
    if first_takes_rest:
        parts = line.strip().rsplit(None, k - 1)
    else:
        parts = line.strip().split(None, k - 1)
    if len(parts) != k:
        return None
    # the column that takes the rest must not hide an elision marker: that would mean more cells
    # than columns, so the row does not line up with the header
    rest = parts[0] if first_takes_rest else parts[-1]
    if any(is_elided(t) for t in rest.split()) and not is_elided(rest):
        return None
    cells = {c: v for c, v in zip(columns, parts) if not is_elided(v)}
    elided = tuple(c for c, v in zip(columns, parts) if is_elided(v))
    return CondensedRow(n, cells, elided)


def integer(s: str | None, base: int = 10) -> int | None:
    if s is None:
        return None
    try:
        v = int(s.replace(",", ""), base)
    except ValueError:
        return None
    return v if v >= 0 else None
