"""Drill-down from the owners view: the buffers of one owner, each with the rule that charged it
to that owner, the evidence in words ("why") and the processes holding it. Enter: the buffer."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from droidtrack.tui.bars import Bar
from droidtrack.tui.owned import OwnerRow
from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_int, c_tag, c_text
from droidtrack.tui.text import fmt_bytes, lit, plural
from droidtrack.tui.views import AGE
from droidtrack.tui.views.drill import BufferListScreen, append_delta
from droidtrack.tui.views.owners import owner_title

# at 80 columns: SIZE, NAME, RULE and WHY; wider terminals add the holders and the rest, and the
# evidence takes the spare width
OWNED_COLS = [
    Col("inode", "INODE", 9, c_int, priority=6), Col("size", "SIZE", 7, c_bytes, priority=1),
    Col("name", "NAME", 18, c_text, priority=0), Col("tag", "TAG", 10, c_tag, priority=5),
    Col("rule", "RULE", 12, c_text, priority=2), Col("why", "WHY", 30, c_text, priority=3, flex=True),
    Col("holders", "HELD BY", 28, c_text, priority=4), AGE,
]


def holders_text(f: Frame, pids) -> str:
    """"label (pid)" of the first three of `pids` (in their order), then how many more."""
    pids = list(pids)
    names = [f"{f.label(p)} ({p})" for p in pids[:3]]
    if len(pids) > 3:
        names.append(f"+{len(pids) - 3} more")
    return ", ".join(names) or "nobody (kernel-only)"


def owner_head(r: OwnerRow, f: Frame) -> Text:
    t = Text(no_wrap=False)
    t.append("owner ", style="dim")
    t.append_text(lit(owner_title(r), "bold"))
    if r.kind == "process":
        t.append("  pid " + ", ".join(str(p) for p in r.pids[:8]) + (" …" if len(r.pids) > 8 else ""), style="dim")
    elif r.kind == "gone":
        t.append("  runs no process any more: charged to nobody, counted apart", style="dim")
    count = "buffers" if r.buffers is None else plural(r.buffers, "buffer")
    t.append(f"\n{count}  charged {fmt_bytes(r.bytes)}  mostly by rule ")
    t.append_text(lit(r.rule))
    append_delta(t, r.delta)
    if r.holders:
        t.append("\nheld by ", style="dim")
        t.append_text(lit(holders_text(f, r.holders)))
    return t


class OwnerScreen(BufferListScreen):
    DEFAULT_CSS = """
    OwnerScreen #owhy { height: auto; max-height: 4; background: $panel; padding: 0 1; }
    """
    IDS = ("otitle", "onote", "owned_table")
    COLS = OWNED_COLS

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Bar(id="owhy")

    def row_of(self, f: Frame) -> OwnerRow | None:
        return f.owners.get(self.key)

    def head_text(self, f: Frame, r: OwnerRow) -> Text:
        return owner_head(r, f)

    def buffer_rows(self, f: Frame, r: OwnerRow) -> dict[str, tuple]:
        rows = {}
        for b in f.buffers_owned(self.key):
            o = f.owner_of(b)
            fs = f.first_seen_of(b)
            rows[b.key] = (b.inode, b.size, b.name or "", b.tag, o.rule if o else "?", o.evidence if o else "?",
                           holders_text(f, sorted(b.holders)), None if fs is None else f.time - fs)
        return rows

    def synced(self, f: Frame, table: LiveTable) -> None:
        self.show_why(f, table.current_key())

    def show_why(self, f: Frame | None, key: str | None) -> None:
        """The buffer under the cursor: its rule and evidence in full (the column cuts them)."""
        t = Text(no_wrap=False, overflow="fold")
        b = f.snapshot.buffers.get(key) if f is not None and key else None
        o = f.owner_of(b) if b is not None else None
        if o is not None:
            t.append("why ", style="dim")
            t.append_text(lit(b.name or b.key, "bold"))
            t.append(f": {o.rule}: ", style="bold")
            t.append_text(lit(o.evidence))
        self.query_one("#owhy", Bar).update(t)

    def on_live_table_cursor_moved(self, event: LiveTable.CursorMoved) -> None:
        event.stop()
        self.show_why(self.pane.frame, event.key)
