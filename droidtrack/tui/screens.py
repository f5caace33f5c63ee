"""The device pane (one per device: header, views, coverage) and the screens pushed over it
(process and buffer drill-downs, problems, help). Everything renders from a Frame; nothing here
talks to a source."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static

from droidtrack.model import Buffer
from droidtrack.tui.state import GROUPINGS, Frame, Row
from droidtrack.tui.text import (fmt_age, fmt_bytes, fmt_clock, fmt_datetime, lit, safe, tag_style)
from droidtrack.tui.widgets import (Bar, Col, LiveTable, Slider, banner_text, c_age, c_bytes,
                                   c_clock, c_delta, c_ident, c_int, c_spark, c_tag, c_tags, c_text,
                                   coverage_text, header_text, slider_text, summary_text)

if TYPE_CHECKING:
    from droidtrack.tui.app import TopApp

VIEWS = ("processes", "tags", "kernel", "leaks")
VIEW_TITLES = {"processes": "1 Processes", "tags": "2 Tags & exporters", "kernel": "3 Kernel-only",
               "leaks": "4 Leaks"}

PROC_COLS = [
    Col("pid", "PID", 7, c_ident), Col("name", "NAME", 26, c_text),
    Col("rss", "RSS", 7, c_bytes), Col("pss", "PSS", 7, c_bytes),
    Col("fd_only", "FD-ONLY", 7, c_bytes), Col("mapped", "MAPPED", 7, c_bytes),
    Col("in_rss", "IN-RSS", 7, c_bytes), Col("count", "BUFS", 5, c_int),
    Col("tags", "TAGS", 17, c_tags), Col("delta", "Δ", 7, c_delta),
]
TOTAL_COLS = lambda first, w: [  # noqa: E731
    Col("key", first, w, c_text), Col("bytes", "BYTES", 8, c_bytes), Col("buffers", "BUFS", 6, c_int),
    Col("delta", "Δ", 8, c_delta), Col("spark", "HISTORY", 16, c_spark)]
RECON_COLS = [Col("label", "RECONCILIATION", 24, c_text), Col("bytes", "BYTES", 8, c_bytes),
              Col("source", "SOURCE", 22, c_text), Col("note", "WHAT IT MEANS", 62, c_text)]
KO_COLS = [Col("inode", "INODE", 9, c_int), Col("size", "SIZE", 7, c_bytes),
           Col("name", "NAME", 24, c_text), Col("exporter", "EXPORTER", 16, c_text),
           Col("tag", "TAG", 10, c_tag), Col("age", "AGE", 7, c_age),
           Col("holder", "LAST KNOWN HOLDER", 30, c_text), Col("held", "UNTIL", 8, c_clock)]
LEAKP_COLS = [Col("pid", "PID", 7, c_int), Col("name", "NAME", 34, c_text),
              Col("base", "BASELINE", 8, c_bytes), Col("now", "NOW", 8, c_bytes),
              Col("delta", "GROWTH", 8, c_delta), Col("samples", "SAMPLES", 7, c_int)]
LEAKB_COLS = [Col("inode", "INODE", 9, c_int), Col("size", "SIZE", 7, c_bytes),
              Col("name", "NAME", 24, c_text), Col("exporter", "EXPORTER", 16, c_text),
              Col("tag", "TAG", 10, c_tag), Col("age", "AGE", 7, c_age),
              Col("holders", "HOLDERS", 36, c_text)]
BUF_COLS = [Col("inode", "INODE", 9, c_int), Col("size", "SIZE", 7, c_bytes),
            Col("name", "NAME", 24, c_text), Col("exporter", "EXPORTER", 16, c_text),
            Col("tag", "TAG", 10, c_tag), Col("how", "HOW", 6, c_text),
            Col("shared", "SHARED WITH", 28, c_text), Col("age", "AGE", 7, c_age)]
HOLDER_COLS = [Col("pid", "PID", 7, c_int), Col("name", "NAME", 30, c_text),
               Col("fds", "FDS", 12, c_text), Col("maps", "MAPS", 4, c_int),
               Col("mapped", "MAPPED", 8, c_bytes), Col("in_rss", "IN-RSS", 8, c_bytes),
               Col("ranges", "RANGES", 34, c_text)]

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

HELP = f"""\
droidtrack top — where the device's shared buffer memory (dma-buf/ION) goes, live.

Views          1 processes   2 tags & exporters   3 kernel-only buffers   4 leak suspects
Processes      ↑/↓ move   Enter buffers of the process   / filter (Esc clears)
               < > sort column   I invert order   click a header to sort by it
               g group: process → package → tag
Drill-down     Enter on a buffer: holders, attached devices, tag rule, lifetime   Esc back
Leaks          b  set the baseline to now (default: the first sample)
Sampling       p  pause / resume (replay: play / stop)   + / -  refresh interval
Replay         [ ] step   {{ }} ±10 steps   or click the slider
Devices        t  next device tab
Output         s  save the raw capture of this sample   r  write a bug-report bundle
Other          e  explain the reconciliation   k  problems the parsers reported   ?  this help   q quit

Columns        RSS      bytes of the buffers the process holds (by fd or by mapping), each once
               PSS      its share: each buffer's size divided among the processes holding it
               FD-ONLY  held by fd only, mapped by nobody: in no RSS at all
               MAPPED   buffers it maps (the whole buffer)      IN-RSS  what smaps counts in Rss
               BUFS     how many buffers     TAGS  share per tag     Δ  RSS change since first sample

{RECON_HELP}
"""


class FrameReady(Message):
    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame


class FeedError(Message):
    def __init__(self, message: str, retry_in: float, failures: int) -> None:
        super().__init__()
        self.message = message
        self.retry_in = retry_in
        self.failures = failures


def _proc_raw(r: Row) -> tuple:
    return ((r.sort_ident, r.ident), r.name, r.rss, r.pss, r.fd_only, r.mapped, r.in_rss, r.count,
            (r.by_tag, r.rss), r.delta)


def _matches(r: Row, needle: str) -> bool:
    if needle in r.name.lower() or needle == r.ident:
        return True
    if needle.isdigit():
        return int(needle) in r.pids
    return any(needle in t for t, _ in r.by_tag)


class DevicePane(Vertical):
    """One device: header, banner, (replay slider), summary, the four views, coverage."""

    DEFAULT_CSS = """
    DevicePane { height: 1fr; }
    DevicePane .bar { height: 1; }
    DevicePane #header { background: $primary-background; }
    DevicePane #banner { background: $error; color: $text; display: none; height: auto; }
    DevicePane #banner.shown { display: block; }
    DevicePane #coverage { height: auto; max-height: 3; background: $panel; }
    DevicePane #filter { display: none; height: 3; }
    DevicePane #filter.shown { display: block; }
    DevicePane #views { height: 1fr; }
    DevicePane LiveTable { height: 1fr; }
    DevicePane #tag_table, DevicePane #exp_table { height: auto; max-height: 12; }
    DevicePane #recon_table { height: auto; max-height: 14; }
    DevicePane #recon_help { display: none; height: auto; }
    DevicePane #recon_help.shown { display: block; }
    DevicePane .title { height: 1; color: $text-muted; text-style: bold; }
    DevicePane #leak_proc { height: auto; max-height: 14; }
    """

    def __init__(self, feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.frame: Frame | None = None
        self.view = "processes"
        self.grouping = "process"
        self.filter = ""
        self.state = "connecting" if feed.kind == "live" else "replay"
        self.error: FeedError | None = None
        self.explain = False
        self.frames_applied = 0
        self._stale: set[str] = set(VIEWS)
        self._proc_key: tuple | None = None

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Bar(id="header", classes="bar")
        yield Bar(id="banner")
        if self.feed.kind == "replay":
            yield Slider(id="slider", classes="bar")
        yield Bar(id="summary", classes="bar")
        yield Bar(id="viewbar", classes="bar")
        with ContentSwitcher(id="views", initial="processes"):
            with Vertical(id="processes"):
                yield Input(placeholder="filter: name, package, pid or tag (Enter keeps it, Esc clears)",
                            id="filter")
                yield LiveTable(PROC_COLS, sort_key="pss", id="proc_table")
            with VerticalScroll(id="tags"):
                yield Static("Per tag", classes="title")
                yield LiveTable(TOTAL_COLS("TAG", 16), sort_key="bytes", id="tag_table")
                yield Static("Per exporter", classes="title")
                yield LiveTable(TOTAL_COLS("EXPORTER", 24), sort_key="bytes", id="exp_table")
                yield LiveTable(RECON_COLS, id="recon_table")
                yield Static(RECON_HELP, id="recon_help")
            with Vertical(id="kernel"):
                yield Bar(id="kernel_title", classes="title")
                yield LiveTable(KO_COLS, sort_key="size", id="ko_table")
            with Vertical(id="leaks"):
                yield Bar(id="leak_title", classes="title")
                yield LiveTable(LEAKP_COLS, sort_key="delta", id="leak_proc")
                yield Static("Buffers that appeared since the baseline and are still there", classes="title")
                yield LiveTable(LEAKB_COLS, sort_key="size", id="leak_buf")
        yield Bar(id="coverage")

    def on_mount(self) -> None:
        self._paint_bars()
        self._paint_viewbar()

    @property
    def app_(self) -> "TopApp":
        return self.app  # type: ignore[return-value]

    # -- frames and errors ---------------------------------------------------------------------
    def on_frame_ready(self, msg: FrameReady) -> None:
        msg.stop()
        self.apply(msg.frame)

    def apply(self, frame: Frame) -> None:
        """Show a new frame: bars always, the visible view now, hidden views when shown."""
        self.frame = frame
        self.frames_applied += 1
        if self.feed.kind == "live":
            self.state = "paused" if self.feed.paused else "live"
        else:
            self.state = "replay" if self.feed.paused else "playing"
        if self.error is not None:
            self.error = None
            self.query_one("#banner").remove_class("shown")
        self._stale = set(VIEWS)
        self._paint_bars()
        self._paint_view()
        for screen in self.app.screen_stack:
            if getattr(screen, "pane", None) is self:
                screen.on_frame(frame)  # type: ignore[attr-defined]

    def on_feed_error(self, msg: FeedError) -> None:
        msg.stop()
        self.error = msg
        self.state = "disconnected"
        banner = self.query_one("#banner", Bar)
        banner.update(banner_text(msg.message, msg.retry_in, msg.failures,
                                  self.frame.time if self.frame else None))
        banner.add_class("shown")
        self._paint_bars()

    # -- painting ------------------------------------------------------------------------------
    def _paint_bars(self) -> None:
        f = self.frame
        self.query_one("#header", Bar).update(
            header_text(self.feed.label, f, self.state, self.feed.interval, self.feed.kind))
        self.query_one("#summary", Bar).update(summary_text(f))
        self.query_one("#coverage", Bar).update(
            coverage_text(f.coverage if f else None, disconnected=self.error is not None and f is not None))
        if self.feed.kind == "replay":
            sl = self.query_one("#slider", Slider)
            pos = self.feed.position if self.feed.position >= 0 else 0
            sl._prefix = f" {pos + 1}/{len(self.feed)} "
            sl.update(slider_text(pos, len(self.feed), f.time if f else None, self.size.width or 120))

    def _paint_viewbar(self) -> None:
        t = Text(no_wrap=True)
        for v in VIEWS:
            t.append(f" {VIEW_TITLES[v]} ", style="bold reverse" if v == self.view else "dim")
            t.append(" ")
        if self.view == "processes":
            t.append(f" group: {self.grouping} ", style="bold")
            if self.filter:
                t.append(" filter: ", style="dim")
                t.append_text(lit(self.filter, "bold yellow"))
            tbl = self.query_one("#proc_table", LiveTable)
            t.append(f"  {tbl.row_count} rows", style="dim")
        self.query_one("#viewbar", Bar).update(t)

    def _paint_view(self, force_rebuild: bool = False) -> None:
        f = self.frame
        if f is None or self.view not in self._stale:
            self._paint_viewbar()
            return
        self._stale.discard(self.view)
        if self.view == "processes":
            self._paint_processes(f, force_rebuild)
        elif self.view == "tags":
            self._paint_tags(f)
        elif self.view == "kernel":
            self._paint_kernel(f)
        elif self.view == "leaks":
            self._paint_leaks(f)
        self._paint_viewbar()

    def process_rows(self, f: Frame) -> dict[str, tuple]:
        rows = f.rows[self.grouping]
        needle = self.filter.lower().strip()
        if needle:
            return {k: _proc_raw(r) for k, r in rows.items() if _matches(r, needle)}
        return {k: _proc_raw(r) for k, r in rows.items()}

    def _paint_processes(self, f: Frame, force_rebuild: bool = False) -> None:
        key = (self.grouping, self.filter)
        rebuild = force_rebuild or key != self._proc_key
        self._proc_key = key
        self.query_one("#proc_table", LiveTable).sync(self.process_rows(f), rebuild=rebuild)

    def _paint_tags(self, f: Frame) -> None:
        self.query_one("#tag_table", LiveTable).sync(
            {r.key: (r.key, r.bytes, r.buffers, r.delta, r.spark) for r in f.tags})
        self.query_one("#exp_table", LiveTable).sync(
            {r.key: (r.key, r.bytes, r.buffers, r.delta, r.spark) for r in f.exporters})
        self.query_one("#recon_table", LiveTable).sync(
            {f"r{i}": (r.label, r.bytes, r.source, r.note) for i, r in enumerate(f.acc.reconciliation)})

    def _paint_kernel(self, f: Frame) -> None:
        tot = f.acc.totals
        title = Text(f"{len(f.kernel_only)} buffers ({fmt_bytes(tot.kernel_only)}) held by no process: "
                     "a driver, a fence or a kernel leak keeps them; the last known holder comes from "
                     "this session's history", no_wrap=True, overflow="ellipsis")
        self.query_one("#kernel_title", Bar).update(title)
        self.query_one("#ko_table", LiveTable).sync(
            {r.key: (r.inode, r.size, r.name, r.exporter, r.tag, r.age, r.last_holder or "never seen held",
                     r.last_held) for r in f.kernel_only})

    def _paint_leaks(self, f: Frame) -> None:
        b = f.baseline
        t = Text(no_wrap=True, overflow="ellipsis")
        if b is not None:
            t.append(f"baseline: sample #{b.seq} at {fmt_clock(b.time)}"
                     f"{' (the first sample)' if b.auto else ''}; b sets it to now. ")
            t.append(f"{len(f.leak_procs)} processes only grew since then", style="bold" if f.leak_procs else "")
        self.query_one("#leak_title", Bar).update(t)
        self.query_one("#leak_proc", LiveTable).sync(
            {p.key: (p.pid, p.name, p.base, p.now, p.now - p.base, p.samples) for p in f.leak_procs})
        self.query_one("#leak_buf", LiveTable).sync(
            {b.key: (b.inode, b.size, b.name, b.exporter, b.tag, b.age, b.holders) for b in f.leak_buffers})

    # -- user actions (called by the app) ------------------------------------------------------
    def show_view(self, view: str) -> None:
        self.view = view
        self.query_one("#views", ContentSwitcher).current = view
        self._paint_view()
        table = {"processes": "#proc_table", "tags": "#tag_table", "kernel": "#ko_table",
                 "leaks": "#leak_proc"}[view]
        self.query_one(table).focus()

    def next_grouping(self) -> None:
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
        self._stale.add("processes")
        if self.view != "processes":
            self.show_view("processes")
        else:
            self._paint_view()

    def open_filter(self) -> None:
        if self.view != "processes":
            self.show_view("processes")
        inp = self.query_one("#filter", Input)
        inp.add_class("shown")
        inp.focus()

    def close_filter(self, clear: bool) -> None:
        inp = self.query_one("#filter", Input)
        if clear:
            inp.value = ""
            self.set_filter("")
            inp.remove_class("shown")
        self.query_one("#proc_table").focus()

    def set_filter(self, text: str) -> None:
        if text == self.filter:
            return
        self.filter = text
        self._stale.add("processes")
        self._paint_view()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            event.stop()
            self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            self.close_filter(clear=not event.value)

    def current_table(self) -> LiveTable | None:
        focused = self.app.focused
        if isinstance(focused, LiveTable) and focused in self.query(LiveTable):
            return focused
        return self.query_one("#proc_table", LiveTable) if self.view == "processes" else None

    def cycle_sort(self, d: int) -> None:
        t = self.current_table()
        if t is None:
            return
        keys = [c.key for c in t.cols]
        i = keys.index(t.sort_key) if t.sort_key in keys else 0
        t.set_sort(keys[(i + d) % len(keys)], reverse=True)

    def invert_sort(self) -> None:
        t = self.current_table()
        if t is not None and t.sort_key:
            t.set_sort(t.sort_key, reverse=not t.reverse)

    def toggle_explain(self) -> None:
        self.explain = not self.explain
        if self.view != "tags":
            self.show_view("tags")
        self.query_one("#recon_help").set_class(self.explain, "shown")
        if self.explain:
            self.query_one("#recon_help").scroll_visible()

    def set_baseline(self) -> bool:
        if self.frame is None:
            return False
        self.feed.history.set_baseline(self.frame)
        # show the effect at once: nothing has grown since "now"
        self.frame.leak_procs, self.frame.leak_buffers = (), ()
        from droidtrack.tui.state import BaselineInfo
        self.frame.baseline = BaselineInfo(self.frame.seq, self.frame.time, False)
        self._stale.add("leaks")
        self._paint_view()
        return True

    def on_slider_jump(self, msg: Slider.Jump) -> None:
        msg.stop()
        if self.feed.kind == "replay":
            self.feed.goto(round(msg.fraction * (len(self.feed) - 1)))

    def on_live_table_selected(self, event: LiveTable.Selected) -> None:
        event.stop()
        if self.frame is None:
            return
        tid = event.table.id
        key = event.key
        if tid == "proc_table":
            self.app.push_screen(ProcessScreen(self, self.grouping, key))
        elif tid == "leak_proc":
            self.app.push_screen(ProcessScreen(self, "process", key))
        elif tid in ("ko_table", "leak_buf"):
            self.app.push_screen(BufferScreen(self, key))
        elif tid == "tag_table":
            self.app.push_screen(ProcessScreen(self, "tag", f"t:{key}"))


# -- drill-down ----------------------------------------------------------------------------------
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


class ProcessScreen(Screen):
    """The buffers of one process (or of a group: package, tag)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("enter", "open", "Buffer", show=True)]
    DEFAULT_CSS = """
    ProcessScreen #ptitle { height: auto; background: $primary-background; }
    ProcessScreen #pnote { height: auto; color: $warning; }
    ProcessScreen LiveTable { height: 1fr; }
    """

    def __init__(self, pane: DevicePane, grouping: str, key: str) -> None:
        super().__init__()
        self.pane = pane
        self.grouping = grouping
        self.key = key
        self.row: Row | None = None
        self.gone_since: float | None = None

    def compose(self) -> ComposeResult:
        yield Bar(id="ptitle")
        yield Bar(id="pnote")
        yield LiveTable(BUF_COLS, sort_key="size", id="buf_table")
        yield Footer()

    def on_mount(self) -> None:
        if self.pane.frame is not None:
            self.on_frame(self.pane.frame)
        self.query_one(LiveTable).focus()

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
        t = Text(no_wrap=False)
        t.append({"process": "process ", "package": "package ", "tag": "tag "}[self.grouping], style="dim")
        t.append_text(lit(r.name, "bold"))
        t.append(f"  pid {r.ident}" if self.grouping == "process" else f"  {r.ident}: "
                 + ", ".join(str(p) for p in r.pids[:12]) + (" …" if len(r.pids) > 12 else ""))
        t.append(f"\n{r.count} buffers  RSS {fmt_bytes(r.rss)}  PSS {fmt_bytes(r.pss)}  "
                 f"fd-only {fmt_bytes(r.fd_only)}  mapped {fmt_bytes(r.mapped)}  in-RSS {fmt_bytes(r.in_rss)}")
        if self.grouping == "process":
            p = f.snapshot.processes.get(r.pids[0])
            if p is not None:
                t.append("\ncmdline ", style="dim")
                t.append_text(lit(" ".join(p.cmdline) or "(empty)"))
                t.append(f"  comm ", style="dim")
                t.append_text(lit(p.name))
                if p.uid is not None:
                    t.append(f"  uid {p.uid}", style="dim")
                if p.oom_score_adj is not None:
                    t.append(f"  oom_score_adj {p.oom_score_adj}", style="dim")
        if r.delta:
            t.append(f"  Δ {'+' if r.delta > 0 else ''}{fmt_bytes(r.delta)} since first sample",
                     style="bold red" if r.delta > 0 else "green")
        self.query_one("#ptitle", Bar).update(t)
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
        self.app.push_screen(BufferScreen(self.pane, event.key))

    def action_open(self) -> None:
        k = self.query_one(LiveTable).current_key()
        if k:
            self.app.push_screen(BufferScreen(self.pane, k))


class BufferScreen(Screen):
    """One buffer: identity, tag and the rule that gave it, holders, attached devices, lifetime."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    BufferScreen #binfo { height: auto; padding: 0 1; }
    BufferScreen LiveTable { height: 1fr; }
    """

    def __init__(self, pane: DevicePane, key: str) -> None:
        super().__init__()
        self.pane = pane
        self.key = key
        self.buffer: Buffer | None = None
        self.gone_since: float | None = None

    def compose(self) -> ComposeResult:
        yield Bar(id="binfo")
        yield LiveTable(HOLDER_COLS, sort_key="pid", reverse=False, id="holders")
        yield Footer()

    def on_mount(self) -> None:
        if self.pane.frame is not None:
            self.on_frame(self.pane.frame)
        self.query_one(LiveTable).focus()

    def on_frame(self, f: Frame) -> None:
        b = f.snapshot.buffers.get(self.key)
        if b is None:
            if self.gone_since is None:
                self.gone_since = f.time
        else:
            self.buffer, self.gone_since = b, None
        b = self.buffer
        t = Text(no_wrap=False, overflow="fold")
        if b is None:
            t.append(f"buffer {self.key} is not in this snapshot")
            self.query_one("#binfo", Bar).update(t)
            return

        def field(label: str, value: Text | str, style: str = "") -> None:
            t.append(f"{label:<14}", style="dim")
            t.append_text(value if isinstance(value, Text) else lit(value, style))
            t.append("\n")

        field("buffer", b.key, "bold")
        field("inode", "unknown (this source gives none)" if b.inode is None else str(b.inode))
        field("size", f"{fmt_bytes(b.size)} ({b.size} bytes)")
        field("name", b.name if b.name is not None else "(none)")
        field("exporter", b.exporter if b.exporter is not None else "(unknown)")
        field("refcount", "?" if b.count is None else str(b.count))
        tag = Text()
        tag.append(safe(b.tag), style=f"bold {tag_style(b.tag)}")
        tag.append("  by rule ", style="dim")
        tag.append_text(lit(b.tag_rule or "(none recorded)"))
        field("tag", tag)
        field("attached", ", ".join(safe(a) for a in b.attached) if b.attached else "(no devices attached)")
        field("seen by", ", ".join(b.sources) if b.sources else "?")
        if b.provenance:
            field("provenance", ", ".join(f"{k} from {v}" for k, v in sorted(b.provenance.items())))
        fs = f.first_seen_of(b)
        life = Text()
        if fs is None:
            life.append("?")
        else:
            life.append(f"first seen {fmt_datetime(fs)}, age {fmt_age(f.time - fs)}")
        if self.gone_since is not None:
            life.append(f"; gone since {fmt_clock(self.gone_since)}", style="bold")
        field("lifetime", life)
        if not b.holders:
            lh = f.last_holders.get(b.key)
            if lh is None:
                field("holders", Text("none: kernel-only, never seen held in this session", style="yellow"))
            else:
                ho = Text("none now (kernel-only); last held by ", style="yellow")
                ho.append_text(lit(", ".join(f"{lab} ({pid})" for pid, lab in zip(lh[1], lh[2]))))
                ho.append(f" until {fmt_clock(lh[0])}", style="yellow")
                field("holders", ho)
        else:
            field("holders", f"{len(b.holders)} process{'es' if len(b.holders) != 1 else ''}")
        self.query_one("#binfo", Bar).update(t)
        rows = {}
        for pid, h in b.holders.items():
            ranges = " ".join(f"{m.start:x}-{m.end:x}" for m in h.maps[:3]) + (" …" if len(h.maps) > 3 else "")
            in_rss = sum(m.rss or 0 for m in h.maps)
            rows[str(pid)] = (pid, f.label(pid), ",".join(map(str, h.fds)) or "-", len(h.maps),
                              b.size if h.maps else 0, in_rss, ranges)
        self.query_one(LiveTable).sync(rows)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll { width: 110; max-width: 100%; height: 90%; border: round $primary;
                                background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(HELP))


class ProblemsScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,k", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    ProblemsScreen { align: center middle; }
    ProblemsScreen VerticalScroll { width: 110; max-width: 100%; height: 80%; border: round $warning;
                                    background: $surface; padding: 0 1; }
    """

    def __init__(self, frame: Frame | None) -> None:
        super().__init__()
        self.frame = frame

    def compose(self) -> ComposeResult:
        t = Text()
        if self.frame is None or not self.frame.snapshot.problems:
            t.append("No problems reported for this snapshot.")
        else:
            probs = self.frame.snapshot.problems
            t.append(f"{len(probs)} problems reported while reading this snapshot (first 500):\n\n", style="bold")
            for p in probs[:500]:
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
        with VerticalScroll():
            yield Static(t)
