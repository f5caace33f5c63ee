"""View 3: buffers no process holds, with the last holder this session saw."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_clock, c_text
from droidtrack.tui.text import fmt_bytes, plural
from droidtrack.tui.views import AGE, buffer_cols

KO_COLS = buffer_cols(AGE, Col("holder", "LAST KNOWN HOLDER", 30, c_text), Col("held", "UNTIL", 8, c_clock))


class KernelView(Vertical):
    def compose(self) -> ComposeResult:
        yield Bar(id="kernel_title", classes="title")
        yield LiveTable(KO_COLS, sort_key="size", id="ko_table")

    def paint(self, f: Frame) -> None:
        title = Text(f"{plural(len(f.kernel_only), 'buffer')} ({fmt_bytes(f.acc.totals.kernel_only)}) held by no "
                     "process: a driver, a fence or a kernel leak keeps them; the last known holder comes "
                     "from this session's history", no_wrap=True, overflow="ellipsis")
        self.query_one("#kernel_title", Bar).update(title)
        self.query_one("#ko_table", LiveTable).sync(
            {r.key: (r.inode, r.size, r.name, r.exporter, r.tag, r.age, r.last_holder or "never seen held",
                     r.last_held) for r in f.kernel_only})
