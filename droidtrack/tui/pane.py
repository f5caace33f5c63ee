"""The device pane: one per device. Header, banner, (replay slider), summary, the five views
(tui/views/), coverage; it applies each Frame the feed posts and dispatches the user's actions to
the view they are about. Everything renders from a Frame; nothing here talks to a source."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ContentSwitcher, Input

from droidtrack.tui.bars import Bar, Slider, banner_text, coverage_text, header_text, slider_text, summary_text
from droidtrack.tui.messages import FeedError, FrameReady
from droidtrack.tui.state import BaselineInfo, Frame
from droidtrack.tui.table import LiveTable
from droidtrack.tui.text import lit
from droidtrack.tui.views.buffer_holders import BufferScreen
from droidtrack.tui.views.drill import DrillScreen
from droidtrack.tui.views.kernel import KernelView
from droidtrack.tui.views.leaks import LeaksView
from droidtrack.tui.views.owner_buffers import OwnerScreen
from droidtrack.tui.views.owners import OwnersView
from droidtrack.tui.views.process_buffers import ProcessScreen
from droidtrack.tui.views.processes import ProcessesView
from droidtrack.tui.views.tags import TagsView

VIEWS = ("processes", "tags", "kernel", "leaks", "owners")
VIEW_TITLES = {"processes": "1 Processes", "tags": "2 Tags & exporters", "kernel": "3 Kernel-only",
               "leaks": "4 Leaks", "owners": "5 Owners"}
SHORT_TITLES = {"processes": "1 Procs", "tags": "2 Tags", "kernel": "3 Kernel", "leaks": "4 Leaks",
                "owners": "5 Owners"}     # when the long ones do not fit (80 columns)
FIRST_TABLE = {"processes": "#proc_table", "tags": "#tag_table", "kernel": "#ko_table", "leaks": "#leak_proc",
               "owners": "#owner_table"}


class DevicePane(Vertical):
    """One device: header, banner, (replay slider), summary, the five views, coverage."""

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
    DevicePane #events { height: 1; background: $panel; }
    """

    def __init__(self, feed, *, id: str | None = None, events=None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.events = events          # top --trace: tui/events.LiveEvents
        self.frame: Frame | None = None
        self.view = "processes"
        self.state = "connecting" if feed.kind == "live" else "replay"
        self.error: FeedError | None = None
        self.explain = False
        self.frames_applied = 0
        self._stale: set[str] = set(VIEWS)
        self.processes = ProcessesView(id="processes")
        self.views = {"processes": self.processes, "tags": TagsView(id="tags"),
                      "kernel": KernelView(id="kernel"), "leaks": LeaksView(id="leaks"),
                      "owners": OwnersView(id="owners")}

    @property
    def grouping(self) -> str:
        return self.processes.grouping

    @property
    def filter(self) -> str:
        return self.processes.filter

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Bar(id="header", classes="bar")
        yield Bar(id="banner")
        if self.feed.kind == "replay":
            yield Slider(id="slider", classes="bar")
        yield Bar(id="summary", classes="bar")
        if self.events is not None:
            from droidtrack.tui.events import EventsBar
            yield EventsBar(self.events, id="events")
        yield Bar(id="viewbar", classes="bar")
        with ContentSwitcher(id="views", initial="processes"):
            yield from self.views.values()
        yield Bar(id="coverage")

    def on_mount(self) -> None:
        self._paint_bars()
        self._paint_viewbar()

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
        for screen in self._drill_screens():
            screen.on_frame(frame)

    def on_feed_error(self, msg: FeedError) -> None:
        msg.stop()
        self.error = msg
        self.state = "disconnected"
        banner = self.query_one("#banner", Bar)
        banner.update(banner_text(msg.message, msg.retry_in, msg.failures,
                                  self.frame.time if self.frame else None))
        banner.add_class("shown")
        self._paint_bars()

    def _drill_screens(self) -> list[DrillScreen]:
        return [s for s in self.app.screen_stack if isinstance(s, DrillScreen) and s.pane is self]

    # -- painting ------------------------------------------------------------------------------
    def header(self) -> Text:
        return header_text(self.feed.label, self.frame, self.state, self.feed.interval, self.feed.kind)

    def coverage(self) -> Text:
        f = self.frame
        return coverage_text(f.coverage if f else None, disconnected=self.error is not None and f is not None)

    def _paint_bars(self) -> None:
        f = self.frame
        self.query_one("#header", Bar).update(self.header())
        self.query_one("#summary", Bar).update(summary_text(f))
        self.query_one("#coverage", Bar).update(self.coverage())
        if self.feed.kind == "replay":
            sl = self.query_one("#slider", Slider)
            pos = self.feed.position if self.feed.position >= 0 else 0
            sl._prefix = f" {pos + 1}/{len(self.feed)} "
            sl.update(slider_text(pos, len(self.feed), f.time if f else None, self.size.width or 120))
        for screen in self._drill_screens():
            screen.paint_bars()

    def _paint_viewbar(self) -> None:
        t = Text(no_wrap=True)
        titles = VIEW_TITLES if sum(len(x) + 3 for x in VIEW_TITLES.values()) + 32 <= (self.size.width or 130) \
            else SHORT_TITLES
        for v in VIEWS:
            t.append(f" {titles[v]} ", style="bold reverse" if v == self.view else "dim")
            t.append(" ")
        if self.view == "processes":
            t.append(f" group: {self.grouping} ", style="bold")
            if self.filter:
                t.append(" filter: ", style="dim")
                t.append_text(lit(self.filter, "bold yellow"))
            tbl = self.query_one("#proc_table", LiveTable)
            t.append(f"  {tbl.row_count} row{'' if tbl.row_count == 1 else 's'}", style="dim")
        self.query_one("#viewbar", Bar).update(t)

    def _paint_view(self, force_rebuild: bool = False) -> None:
        f = self.frame
        if f is not None and self.view in self._stale:
            self._stale.discard(self.view)
            if self.view == "processes":
                self.processes.paint(f, force_rebuild)
            else:
                self.views[self.view].paint(f)
        self._paint_viewbar()

    # -- user actions (called by the app) ------------------------------------------------------
    def show_view(self, view: str) -> None:
        self.view = view
        self.query_one("#views", ContentSwitcher).current = view
        self._paint_view()
        self.query_one(FIRST_TABLE[view]).focus()

    def next_grouping(self) -> None:
        self.processes.next_grouping()
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
        self.processes.filter = text
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

    def toggle_explain(self) -> None:
        self.explain = not self.explain
        if self.view != "tags":
            self.show_view("tags")
        self.views["tags"].show_explanation(self.explain)

    def set_baseline(self) -> bool:
        if self.frame is None:
            return False
        self.feed.history.set_baseline(self.frame)
        # show the effect at once: nothing has grown since "now"
        self.frame.leak_procs, self.frame.leak_buffers = (), ()
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
        elif tid == "owner_table":
            self.app.push_screen(OwnerScreen(self, key))
