"""View 2: bytes per tag and per exporter with their history, and how the totals reconcile with
what the kernel and the framework report."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_delta, c_int, c_spark, c_text

RECON_HELP = """\
How the totals fit together (every number is exact, in bytes):
  unique buffers      every buffer the sources saw, each counted once.
  held by processes   buffers some process holds by fd or by mapping; equals Σ PSS, because each
                      buffer's size is split among its holders (remainder bytes to the lowest pids).
  Σ RSS               each holder counts the whole buffer: a buffer shared by N processes counts N
                      times, so Σ RSS ≥ held. Never add per-process RSS to get a device total.
  kernel-only         buffers no process holds: kept alive by a driver, a fence, or a leak in the
                      kernel (see view 3 for their last known holder).
  fd-only             held by fd and mapped by nobody: in no process's RSS and in no per-process
                      kernel counter. This is what meminfo-style tools miss.
  device totals       what the kernel or framework says (sysfs, bufinfo, dumpsys, dmabuf_dump); the
                      note says how far it is from droidtrack's unique total and why it may differ
                      (page pools are free memory kept for reuse, not buffers)."""


def total_cols(first: str, width: int) -> list[Col]:
    return [Col("key", first, width, c_text, flex=True), Col("bytes", "BYTES", 8, c_bytes),
            Col("buffers", "BUFS", 6, c_int), Col("delta", "Δ", 8, c_delta), Col("spark", "HISTORY", 16, c_spark)]


RECON_COLS = [Col("label", "RECONCILIATION", 24, c_text), Col("bytes", "BYTES", 8, c_bytes),
              Col("source", "SOURCE", 22, c_text, priority=3), Col("note", "WHAT IT MEANS", 62, c_text, flex=True)]


class TagsView(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("Per tag", classes="title")
        yield LiveTable(total_cols("TAG", 16), sort_key="bytes", id="tag_table")
        yield Static("Per exporter", classes="title")
        yield LiveTable(total_cols("EXPORTER", 24), sort_key="bytes", id="exp_table")
        yield LiveTable(RECON_COLS, id="recon_table")
        yield Static(RECON_HELP, id="recon_help")

    def paint(self, f: Frame) -> None:
        self.query_one("#tag_table", LiveTable).sync(
            {r.key: (r.key, r.bytes, r.buffers, r.delta, r.spark) for r in f.tags})
        self.query_one("#exp_table", LiveTable).sync(
            {r.key: (r.key, r.bytes, r.buffers, r.delta, r.spark) for r in f.exporters})
        self.query_one("#recon_table", LiveTable).sync(
            {f"r{i}": (r.label, r.bytes, r.source, r.note) for i, r in enumerate(f.acc.reconciliation)})

    def show_explanation(self, shown: bool) -> None:
        help_ = self.query_one("#recon_help")
        help_.set_class(shown, "shown")
        if shown:
            help_.scroll_visible()
