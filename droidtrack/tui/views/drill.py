"""What the drill-down screens share: they keep the device header on top and the coverage bar at
the bottom (a drill-down is still about that device, live), and follow their pane's frames; the
ones listing buffers (of a process, a group, an owner) follow their row and open a buffer."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame
from droidtrack.tui.table import LiveTable
from droidtrack.tui.text import fmt_clock, fmt_delta

if TYPE_CHECKING:
    from droidtrack.tui.pane import DevicePane


class DrillScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    DrillScreen #header { height: 1; background: $primary-background; }
    DrillScreen #coverage { height: auto; max-height: 3; background: $panel; }
    """

    def __init__(self, pane: "DevicePane") -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield Bar(id="header")
        yield from self.compose_body()
        yield Bar(id="coverage")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.paint_bars()
        if self.pane.frame is not None:
            self.on_frame(self.pane.frame)
        self.focus_body()

    def focus_body(self) -> None:
        self.query_one(LiveTable).focus()

    def paint_bars(self) -> None:
        self.query_one("#header", Bar).update(self.pane.header())
        self.query_one("#coverage", Bar).update(self.pane.coverage())

    def on_frame(self, f: Frame) -> None:
        raise NotImplementedError


class BufferListScreen(DrillScreen):
    """A drill-down that lists the buffers of something it follows from frame to frame (a process,
    a group, an owner): a title, a note, the table. Enter (or a second click) on a buffer opens it.
    Subclasses say how to find their row in a frame, its title, note and buffer rows."""
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("enter", "open", "Buffer", show=True)]
    IDS = ("ptitle", "pnote", "buf_table")        # the title bar, the note bar, the table
    COLS: list = []
    DEFAULT_CSS = """
    BufferListScreen .dtitle { height: auto; background: $primary-background; }
    BufferListScreen .dnote { height: auto; color: $warning; }
    BufferListScreen LiveTable { height: 1fr; }
    """

    def __init__(self, pane: "DevicePane", key: str) -> None:
        super().__init__(pane)
        self.key = key
        self.row = None
        self.gone_since: float | None = None

    def compose_body(self) -> ComposeResult:
        title, note, table = self.IDS
        yield Bar(id=title, classes="dtitle")
        yield Bar(id=note, classes="dnote")
        yield LiveTable(self.COLS, sort_key="size", id=table)

    def row_of(self, f: Frame):
        raise NotImplementedError

    def head_text(self, f: Frame, row) -> Text:
        raise NotImplementedError

    def note_text(self, row) -> Text:
        return Text()

    def buffer_rows(self, f: Frame, row) -> dict[str, tuple]:
        raise NotImplementedError

    def on_frame(self, f: Frame) -> None:
        row = self.row_of(f)
        if row is None:
            if self.gone_since is None:
                self.gone_since = f.time
        else:
            self.row, self.gone_since = row, None
        title, note, _ = self.IDS
        if self.row is None:
            self.query_one(f"#{title}", Bar).update(Text(f"{self.key}: not in this snapshot"))
            return
        self.query_one(f"#{title}", Bar).update(self.head_text(f, self.row))
        if self.gone_since is not None:
            self.query_one(f"#{note}", Bar).update(
                Text(f"gone since {fmt_clock(self.gone_since)}: showing its last known buffers", style="bold"))
            return
        self.query_one(f"#{note}", Bar).update(self.note_text(self.row))
        table = self.query_one(LiveTable)
        table.sync(self.buffer_rows(f, self.row))
        self.synced(f, table)

    def synced(self, f: Frame, table: LiveTable) -> None:
        """After the table took a frame's rows."""

    def on_live_table_selected(self, event: LiveTable.Selected) -> None:
        event.stop()
        self.open_buffer(event.key)

    def action_open(self) -> None:
        k = self.query_one(LiveTable).current_key()
        if k:
            self.open_buffer(k)

    def open_buffer(self, key: str) -> None:
        from droidtrack.tui.views.buffer_holders import BufferScreen   # it is a DrillScreen itself
        self.app.push_screen(BufferScreen(self.pane, key))


def append_delta(t: Text, delta: int | None) -> None:
    """"  Δ +12.0M since first sample", red when it grew."""
    if delta:
        t.append(f"  Δ {fmt_delta(delta)} since first sample",
                 style="bold red" if delta > 0 else "green")
