"""View 1: every process (or package, or tag) holding dma-bufs, one row each, updated in place.
At 80 columns it shows NAME, PSS, FD-ONLY, Δ and CHARGED (what it owns, model/owners.py), and
PID; wider terminals add the rest."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from droidtrack.tui.state import GROUPINGS, Frame, Row
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_delta, c_ident, c_int, c_tags, c_text

PROC_COLS = [
    Col("pid", "PID", 7, c_ident, priority=5), Col("name", "NAME", 26, c_text, priority=0, flex=True),
    Col("rss", "RSS", 7, c_bytes, priority=6), Col("pss", "PSS", 7, c_bytes, priority=1),
    Col("charged", "CHARGED", 7, c_bytes, priority=4),
    Col("fd_only", "FD-ONLY", 7, c_bytes, priority=2), Col("mapped", "MAPPED", 7, c_bytes, priority=7),
    Col("in_rss", "IN-RSS", 7, c_bytes, priority=10), Col("count", "BUFS", 5, c_int, priority=8),
    Col("tags", "TAGS", 17, c_tags, priority=9), Col("delta", "Δ", 8, c_delta, priority=3),
]


def _proc_raw(r: Row) -> tuple:
    return ((r.sort_ident, r.ident), r.name, r.rss, r.pss, r.charged, r.fd_only, r.mapped, r.in_rss, r.count,
            (r.by_tag, r.rss), r.delta)


def _matches(r: Row, needle: str) -> bool:
    if needle in r.name.lower() or needle == r.ident:
        return True
    if needle.isdigit():
        return int(needle) in r.pids
    return any(needle in t for t, _ in r.by_tag)


class ProcessesView(Vertical):
    """The filter box and the table; `grouping` (process, package, tag) and `filter` say which rows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.grouping = "process"
        self.filter = ""
        self._key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: name, package, pid or tag (Enter keeps it, Esc clears)", id="filter")
        yield LiveTable(PROC_COLS, sort_key="pss", id="proc_table")

    def rows(self, f: Frame) -> dict[str, tuple]:
        rows = f.rows[self.grouping]
        needle = self.filter.lower().strip()
        if needle:
            return {k: _proc_raw(r) for k, r in rows.items() if _matches(r, needle)}
        return {k: _proc_raw(r) for k, r in rows.items()}

    def paint(self, f: Frame, force_rebuild: bool = False) -> None:
        key = (self.grouping, self.filter)
        rebuild = force_rebuild or key != self._key
        self._key = key
        self.query_one("#proc_table", LiveTable).sync(self.rows(f), rebuild=rebuild)

    def next_grouping(self) -> None:
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
