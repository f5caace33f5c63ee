"""The problems screen (k): what the parsers skipped or could not read in this snapshot."""
from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from droidtrack.tui.state import Frame
from droidtrack.tui.text import lit, plural
from droidtrack.tui.views.help import TextScreen

SHOWN = 500


def problems_text(frame: Frame | None) -> Text:
    t = Text()
    if frame is None or not frame.snapshot.problems:
        t.append("No problems reported for this snapshot.")
        return t
    probs = frame.snapshot.problems
    t.append(f"{plural(len(probs), 'problem')} reported while reading this snapshot"
             f"{f' (the first {SHOWN})' if len(probs) > SHOWN else ''}:\n\n", style="bold")
    for p in probs[:SHOWN]:
        t.append_text(lit(p.source, "bold"))
        if p.path:
            t.append(" ")
            t.append_text(lit(p.path, "cyan"))
        if p.line is not None:
            t.append(f" line {p.line}", style="dim")
        t.append(": ")
        t.append_text(lit(p.message))
        if p.text:
            t.append("  «")
            t.append_text(lit(p.text, "dim"))
            t.append("»")
        t.append("\n")
    return t


class ProblemsScreen(TextScreen):
    BINDINGS = [Binding("escape,q,k", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    ProblemsScreen VerticalScroll { height: 80%; border: round $warning; }
    """

    def __init__(self, frame: Frame | None) -> None:
        super().__init__()
        self.frame = frame

    def text(self) -> Text:
        return problems_text(self.frame)
