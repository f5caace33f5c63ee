"""View 4: processes that only grew since the baseline, and buffers that appeared since then."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_delta, c_int, c_text
from droidtrack.tui.text import fmt_clock, plural
from droidtrack.tui.views import AGE, buffer_cols

LEAKP_COLS = [Col("pid", "PID", 7, c_int), Col("name", "NAME", 34, c_text, flex=True),
              Col("base", "BASELINE", 8, c_bytes), Col("now", "NOW", 8, c_bytes),
              Col("delta", "GROWTH", 8, c_delta), Col("samples", "SAMPLES", 7, c_int)]
LEAKB_COLS = buffer_cols(AGE, Col("holders", "HOLDERS", 36, c_text))


class LeaksView(Vertical):
    def compose(self) -> ComposeResult:
        yield Bar(id="leak_title", classes="title")
        yield LiveTable(LEAKP_COLS, sort_key="delta", id="leak_proc")
        yield Static("Buffers that appeared since the baseline and are still there", classes="title")
        yield LiveTable(LEAKB_COLS, sort_key="size", id="leak_buf")

    def paint(self, f: Frame) -> None:
        b = f.baseline
        t = Text(no_wrap=True, overflow="ellipsis")
        if b is not None:
            t.append(f"baseline: sample #{b.seq} at {fmt_clock(b.time)}"
                     f"{' (the first sample)' if b.auto else ''}; b sets it to now. ")
            t.append(f"{plural(len(f.leak_procs), 'process')} only grew since then",
                     style="bold" if f.leak_procs else "")
        self.query_one("#leak_title", Bar).update(t)
        self.query_one("#leak_proc", LiveTable).sync(
            {p.key: (p.pid, p.name, p.base, p.now, p.now - p.base, p.samples) for p in f.leak_procs})
        self.query_one("#leak_buf", LiveTable).sync(
            {b.key: (b.inode, b.size, b.name, b.exporter, b.tag, b.age, b.holders) for b in f.leak_buffers})
