"""TopApp: one tab per device, each a DevicePane fed by a LiveFeed (a SnapshotSource polled in a
worker thread) or a ReplayFeed (a recorded sequence of snapshots).

    run_top(source, interval=2.0) -> int

`source` may be a SnapshotSource, a list of them (one tab each), a sequence of Snapshots (or
Collected), or a source exposing such a sequence as `.snapshots` (a replay: time slider and step
keys instead of polling).
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Footer, TabbedContent, TabPane

from droidtrack.model import Snapshot
from droidtrack.tui.feed import INTERVALS, LiveFeed, ReplayFeed
from droidtrack.tui.messages import FeedError, FrameReady
from droidtrack.tui.pane import VIEWS, DevicePane
from droidtrack.tui.state import DeviceTimeline
from droidtrack.tui.table import LiveTable
from droidtrack.tui.text import fmt_bytes, safe
from droidtrack.tui.views.help import HelpScreen
from droidtrack.tui.views.problems import ProblemsScreen


def _is_snapshot_like(x: Any) -> bool:
    return isinstance(x, Snapshot) or isinstance(getattr(x, "snapshot", None), Snapshot)


class SourceSequence(Sequence):
    """A replay source with random access (`at(i)`, `len()`, `samples[i].time`) as a sequence."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i):  # type: ignore[override]
        return self.source.at(i)

    def time_at(self, i: int) -> float | None:
        try:
            return self.source.samples[i].time
        except (IndexError, AttributeError):
            return None

    def close(self) -> None:
        try:
            self.source.close()
        except Exception:
            pass


def _specs(source: Any) -> list[tuple[str, Any, str]]:
    """Normalize what run_top was given into [(kind, payload, label)]."""
    if isinstance(source, Snapshot):
        return [("replay", [source], source.origin or "snapshot")]
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        items = list(source)
        if items and all(_is_snapshot_like(x) for x in items):
            first = items[0] if isinstance(items[0], Snapshot) else items[0].snapshot
            return [("replay", items, first.origin or "recording")]
        out = []
        for s in items:
            out.extend(_specs(s))
        return out
    label = str(getattr(source, "label", "") or type(source).__name__)
    snaps = getattr(source, "snapshots", None)
    if snaps is not None and not callable(snaps):
        return [("replay", snaps, label)]
    if callable(getattr(source, "at", None)) and hasattr(source, "__len__") and hasattr(source, "samples"):
        return [("replay", SourceSequence(source), label)]   # droidtrack.sources.replay.ReplaySource
    if hasattr(source, "collect"):
        return [("live", source, label)]
    raise TypeError(f"droidtrack top cannot show a {type(source).__name__}")


class TopApp(App):
    TITLE = "droidtrack top"
    CSS = """
    Screen { layout: vertical; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("g", "group", "Group"),
        Binding("less_than_sign", "sort(-1)", "Sort", key_display="<>"),
        Binding("b", "baseline", "Baseline"),
        Binding("p", "pause", "Pause"),
        Binding("s", "save", "Save"),
        Binding("r", "report", "Report"),
        *(Binding(key, action, desc, show=False) for key, action, desc in (
            ("1", "view('processes')", "Procs"), ("2", "view('tags')", "Tags"), ("3", "view('kernel')", "Kernel"),
            ("4", "view('leaks')", "Leaks"), ("5", "view('owners')", "Owners"),
            ("greater_than_sign", "sort(1)", "Sort"), ("I", "invert", "Invert"),
            ("plus", "interval(1)", "Interval"), ("minus", "interval(-1)", "Interval"),
            ("e", "explain", "Explain"), ("k", "problems", "Problems"), ("t", "next_tab", "Device"),
            ("left_square_bracket", "step(-1)", "Step"), ("right_square_bracket", "step(1)", "Step"),
            ("left_curly_bracket", "step(-10)", "Step"), ("right_curly_bracket", "step(10)", "Step"),
            ("escape", "escape", ""))),
    ]

    def __init__(self, source: Any, *, interval: float = 2.0, start: bool = True,
                 save_dir: str | Path | None = None, history_factory=DeviceTimeline,
                 initial_filter: str = "", events=None) -> None:
        super().__init__()
        self.initial_filter = initial_filter     # top --package: the process view starts filtered to it
        self.interval = interval
        self.start_feeds = start
        self.save_dir = Path(save_dir) if save_dir is not None else Path.cwd()
        self.panes: list[DevicePane] = []
        for i, (kind, payload, label) in enumerate(_specs(source)):
            if kind == "live":
                feed = LiveFeed(payload, history_factory(), interval=interval,
                                on_frame=None, on_error=None)  # type: ignore[arg-type]
            else:
                feed = ReplayFeed(payload, label, history_factory=history_factory, interval=interval,
                                  on_frame=None, on_error=None)  # type: ignore[arg-type]
            pane = DevicePane(feed, id=f"device{i}", events=events if i == 0 else None)
            feed._on_frame = lambda frame, p=pane: p.post_message(FrameReady(frame))
            feed._on_error = lambda m, r, n, p=pane: p.post_message(FeedError(m, r, n))
            self.panes.append(pane)
        if not self.panes:
            raise ValueError("droidtrack top needs at least one source")

    def compose(self) -> ComposeResult:
        if len(self.panes) == 1:
            yield self.panes[0]
        else:
            with TabbedContent(id="tabs"):
                for i, pane in enumerate(self.panes):
                    with TabPane(Content(safe(pane.feed.label)), id=f"tab{i}"):
                        yield pane
        yield Footer()

    def on_mount(self) -> None:
        self.panes[0].query_one("#proc_table").focus()
        if self.initial_filter:
            for p in self.panes:
                p.set_filter(self.initial_filter)
        if self.start_feeds:
            for p in self.panes:
                p.feed.start()

    def on_unmount(self) -> None:
        for p in self.panes:
            p.feed.stop()
        # give each feed a moment to close its source; one stuck in adb is left behind (daemon)
        for p in self.panes:
            p.feed.join(0.5)

    @property
    def pane(self) -> DevicePane:
        if len(self.panes) == 1:
            return self.panes[0]
        tabs = self.query_one("#tabs", TabbedContent)
        active = tabs.active or "tab0"
        return self.panes[int(active[3:])]

    def _to_main(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    # -- actions -------------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_problems(self) -> None:
        self.push_screen(ProblemsScreen(self.pane.frame))

    def action_view(self, view: str) -> None:
        if view in VIEWS:
            self._to_main()
            self.pane.show_view(view)

    def action_filter(self) -> None:
        self._to_main()
        self.pane.open_filter()

    def action_escape(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.pane.close_filter(clear=True)

    def action_group(self) -> None:
        self._to_main()
        self.pane.next_grouping()
        self.notify(f"grouped by {self.pane.grouping}", timeout=2)

    def _table(self) -> LiveTable | None:
        """The table the sort keys act on: the pane's, or the drill-down's."""
        if len(self.screen_stack) == 1:
            return self.pane.current_table()
        found = self.screen.query(LiveTable)
        return found.first() if found else None

    def action_sort(self, d: int) -> None:
        t = self._table()
        if t is not None:
            t.cycle_sort(d)

    def action_invert(self) -> None:
        t = self._table()
        if t is not None:
            t.invert_sort()

    def action_explain(self) -> None:
        self._to_main()
        self.pane.toggle_explain()

    def action_baseline(self) -> None:
        if self.pane.set_baseline():
            self.notify("baseline set: the leak view (4) now shows what grows from here", timeout=3)
        else:
            self.notify("no snapshot yet", severity="warning")

    def action_pause(self) -> None:
        pane = self.pane
        feed = pane.feed
        feed.set_paused(not feed.paused)
        if feed.kind == "live":
            if pane.state != "disconnected":
                pane.state = "paused" if feed.paused else ("live" if pane.frame else "connecting")
        else:
            pane.state = "replay" if feed.paused else "playing"
        pane._paint_bars()

    def action_interval(self, d: int) -> None:
        feed = self.pane.feed
        cur = feed.interval
        i = min(range(len(INTERVALS)), key=lambda j: abs(INTERVALS[j] - cur))
        new = INTERVALS[max(0, min(len(INTERVALS) - 1, i + d))]
        for p in self.panes:
            p.feed.set_interval(new)
            p._paint_bars()
        self.interval = new
        self.notify(f"refresh every {new:g}s", timeout=2)

    def action_step(self, d: int) -> None:
        feed = self.pane.feed
        if feed.kind != "replay":
            self.notify("stepping works on a replay (--replay FILE)", timeout=2)
            return
        feed.step(d)

    def action_next_tab(self) -> None:
        if len(self.panes) > 1:
            tabs = self.query_one("#tabs", TabbedContent)
            i = int((tabs.active or "tab0")[3:])
            tabs.active = f"tab{(i + 1) % len(self.panes)}"

    def action_save(self) -> None:
        f = self.pane.frame
        if f is None:
            self.notify("nothing collected yet", severity="warning")
            return
        if f.raw is None:
            self.notify("this source has no raw collector stream to save (a live device, --root and "
                        "--capture have one; a replay or demo snapshot may not)", severity="warning")
            return
        path = self.save_dir / f"droidtrack-{_slug(f)}-{_stamp(f)}.dtc"
        try:
            path.write_bytes(f.raw)
        except OSError as e:
            self.notify(f"could not save the capture: {e.strerror or e}", severity="error")
            return
        self.saved = path
        self.notify(f"saved {path} ({fmt_bytes(len(f.raw))}); open it with --capture", timeout=6)

    def action_report(self) -> None:
        from droidtrack.report import write_report   # the report writer is only needed here
        pane = self.pane
        f = pane.frame
        if f is None:
            self.notify("nothing collected yet", severity="warning")
            return
        path = self.save_dir / f"droidtrack-report-{_slug(f)}-{_stamp(f)}.zip"
        raws = [(f"{_slug(f)}-{_stamp(f)}.dtc", f.raw)] if f.raw is not None else []
        notes = [f"written by droidtrack top from {pane.feed.label} (sample #{f.seq} of this session)"]
        label = pane.feed.label

        def work() -> None:
            try:
                res = write_report(path, f.snapshot, raws=raws, notes=notes, source_label=label)
            except Exception as e:  # the bundle writer's failure is a message, not a crash
                self.call_from_thread(self.notify, f"bug report failed: {type(e).__name__}: {safe(e)}",
                                      severity="error")
                return
            self.reported = getattr(res, "path", path)
            self.call_from_thread(self.notify, f"bug report written: {safe(self.reported)}", timeout=8)

        self.notify("writing the bug report…", timeout=2)
        self.run_worker(work, thread=True, name="report")


def _slug(f) -> str:
    dev = f.snapshot.device
    return re.sub(r"[^A-Za-z0-9._-]+", "_", dev.serial or dev.model or "device")[:40].strip("._") or "device"


def _stamp(f) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(f.time))


def run_top(source: Any, interval: float = 2.0, **kw) -> int:
    """Open the UI on `source` (see the module doc) until the user quits. Returns an exit code."""
    app = TopApp(source, interval=interval, **kw)
    app.run()
    return 0
