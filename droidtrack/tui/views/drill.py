"""What the drill-down screens share: they keep the device header on top and the coverage bar at
the bottom (a drill-down is still about that device, live), and follow their pane's frames."""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame
from droidtrack.tui.table import LiveTable

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
