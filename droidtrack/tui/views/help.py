"""The help screen (?): keys, what each column means, how the totals fit together."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from droidtrack.tui.views.tags import RECON_HELP

HELP = f"""\
droidtrack top — where the device's shared buffer memory (dma-buf/ION) goes, live.

Views          1 processes   2 tags & exporters   3 kernel-only buffers   4 leak suspects   5 owners
Processes      ↑/↓ move   Enter buffers of the process   / filter (Esc clears)
               < > sort column   I invert order   click a header to sort by it (again: reverse)
               numbers sort biggest first, names A to Z   g group: process → package → tag
Drill-down     Enter on a buffer: holders, attached devices, tag rule, lifetime   Esc back
Leaks          b  set the baseline to now (default: the first sample)
Owners         whose the bytes are: each buffer's whole size charged to the one process it was made
               for (an app, though the camera provider or SurfaceFlinger hold it), whoever holds it;
               rows for kernel-only buffers and for owners that exited, so the rows add up to every
               byte. CHARGED  its bytes   HELD BY  who holds them ("self": the owner's own processes)
               RULE  the rule that decided most of them   Enter: its buffers, each with why
Sampling       p  pause / resume (replay: play / stop)   + / -  refresh interval
Replay         [ ] step   {{ }} ±10 steps   or click the slider
Devices        t  next device tab
Output         s  save the raw capture of this sample   r  write a bug-report bundle
Other          e  explain the reconciliation   k  problems the parsers reported   ?  this help   q quit

Columns        RSS      bytes of the buffers the process holds (by fd or by mapping), each once
               PSS      its share: each buffer's size divided among the processes holding it
               CHARGED  what it owns: the whole size of each buffer made for it, whoever holds it
                        (an app's camera preview, though the provider and SurfaceFlinger hold it)
               FD-ONLY  held by fd only, mapped by nobody: in no RSS at all
               MAPPED   buffers it maps (the whole buffer)      IN-RSS  what smaps counts in Rss
               BUFS     how many buffers     TAGS  share per tag     Δ  RSS change since first sample
               A narrow terminal shows NAME, PSS, FD-ONLY, Δ and CHARGED first; a wider one adds the rest.

{RECON_HELP}
"""


class TextScreen(ModalScreen):
    """A scrollable box of text over the pane; the keys in `BINDINGS` close it."""
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen VerticalScroll { width: 110; max-width: 100%; height: 90%; border: round $primary;
                                background: $surface; padding: 0 1; }
    """

    def text(self) -> Text:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text())


class HelpScreen(TextScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def text(self) -> Text:
        return Text(HELP)
