"""Drill-down: the buffers of one process (or of a group: a package, a tag), how it holds each
and who shares it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from droidtrack.model import Buffer
from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame, Row
from droidtrack.tui.table import Col, LiveTable, c_text
from droidtrack.tui.text import fmt_bytes, fmt_clock, fmt_delta, lit, plural
from droidtrack.tui.views import AGE, buffer_cols
from droidtrack.tui.views.buffer_holders import BufferScreen
from droidtrack.tui.views.drill import DrillScreen

if TYPE_CHECKING:
    from droidtrack.tui.pane import DevicePane

BUF_COLS = buffer_cols(Col("how", "HOW", 6, c_text), Col("shared", "SHARED WITH", 28, c_text), AGE)


def _how(b: Buffer, pids: tuple[int, ...]) -> str:
    fd = mp = False
    for p in pids:
        h = b.holders.get(p)
        if h is not None:
            fd = fd or h.by_fd
            mp = mp or h.by_map
    return "fd+map" if fd and mp else ("map" if mp else "fd")


def _shared(f: Frame, b: Buffer, pids: tuple[int, ...]) -> str:
    others = [p for p in sorted(b.holders) if p not in pids]
    if not others:
        return ""
    names = [f"{f.label(p)} ({p})" for p in others[:3]]
    if len(others) > 3:
        names.append(f"+{len(others) - 3} more")
    return ", ".join(names)


def title_text(f: Frame, grouping: str, r: Row) -> Text:
    t = Text(no_wrap=False)
    t.append({"process": "process ", "package": "package ", "tag": "tag "}[grouping], style="dim")
    t.append_text(lit(r.name, "bold"))
    t.append(f"  pid {r.ident}" if grouping == "process" else f"  {r.ident}: "
             + ", ".join(str(p) for p in r.pids[:12]) + (" …" if len(r.pids) > 12 else ""))
    t.append(f"\n{plural(r.count, 'buffer')}  RSS {fmt_bytes(r.rss)}  PSS {fmt_bytes(r.pss)}  "
             f"fd-only {fmt_bytes(r.fd_only)}  mapped {fmt_bytes(r.mapped)}  in-RSS {fmt_bytes(r.in_rss)}")
    if grouping == "process":
        p = f.snapshot.processes.get(r.pids[0])
        if p is not None:
            t.append("\ncmdline ", style="dim")
            t.append_text(lit(" ".join(p.cmdline) or "(empty)"))
            t.append("  comm ", style="dim")
            t.append_text(lit(p.name))
            if p.uid is not None:
                t.append(f"  uid {p.uid}", style="dim")
            if p.oom_score_adj is not None:
                t.append(f"  oom_score_adj {p.oom_score_adj}", style="dim")
    if r.delta:
        t.append(f"  Δ {fmt_delta(r.delta)} since first sample",
                 style="bold red" if r.delta > 0 else "green")
    return t


class ProcessScreen(DrillScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("enter", "open", "Buffer", show=True)]
    DEFAULT_CSS = """
    ProcessScreen #ptitle { height: auto; background: $primary-background; }
    ProcessScreen #pnote { height: auto; color: $warning; }
    ProcessScreen LiveTable { height: 1fr; }
    """

    def __init__(self, pane: "DevicePane", grouping: str, key: str) -> None:
        super().__init__(pane)
        self.grouping = grouping
        self.key = key
        self.row: Row | None = None
        self.gone_since: float | None = None

    def compose_body(self) -> ComposeResult:
        yield Bar(id="ptitle")
        yield Bar(id="pnote")
        yield LiveTable(BUF_COLS, sort_key="size", id="buf_table")

    def on_frame(self, f: Frame) -> None:
        row = f.rows.get(self.grouping, {}).get(self.key)
        if row is None:
            if self.gone_since is None:
                self.gone_since = f.time
        else:
            self.row, self.gone_since = row, None
        if self.row is None:
            self.query_one("#ptitle", Bar).update(Text(f"{self.key}: not in this snapshot"))
            return
        r = self.row
        self.query_one("#ptitle", Bar).update(title_text(f, self.grouping, r))
        note = Text()
        if self.gone_since is not None:
            note.append(f"gone since {fmt_clock(self.gone_since)}: showing its last known buffers", style="bold")
        elif r.unreadable:
            note.append("droidtrack could not read this process's fds (no root?): buffers it holds "
                        "only by fd are missing here")
        self.query_one("#pnote", Bar).update(note)
        if self.gone_since is not None:
            return
        pids = r.pids
        bufs = f.buffers_of(pids)
        if self.grouping == "tag":
            bufs = tuple(b for b in bufs if b.tag == r.name)
        rows = {}
        for b in bufs:
            fs = f.first_seen_of(b)
            rows[b.key] = (b.inode, b.size, b.name or "", b.exporter or "", b.tag, _how(b, pids),
                           _shared(f, b, pids), None if fs is None else f.time - fs)
        self.query_one(LiveTable).sync(rows)

    def on_live_table_selected(self, event: LiveTable.Selected) -> None:
        event.stop()
        self.open_buffer(event.key)

    def action_open(self) -> None:
        k = self.query_one(LiveTable).current_key()
        if k:
            self.open_buffer(k)

    def open_buffer(self, key: str) -> None:
        self.app.push_screen(BufferScreen(self.pane, key))
