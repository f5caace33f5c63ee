"""`top --trace`: allocations as they happen, in one small bar under the summary.

`LiveEvents` is fed from the trace thread (commands/trace.stream_in_thread, TraceFeed.on_event) and
keeps the last few exports; `EventsBar` repaints from it twice a second on the UI thread. Where the
kernel has no dma_buf events the bar says so once and the rest of top is unchanged.
"""
from __future__ import annotations

import threading
from collections import deque

from rich.text import Text

from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.tui.bars import Bar


class LiveEvents:
    def __init__(self, keep: int = 3) -> None:
        self.recent: deque = deque(maxlen=keep)
        self.exports = 0
        self.exported_bytes = 0
        self.events = 0
        self.state = "starting"
        self.reason: str | None = None
        self.lost = 0
        self._lock = threading.Lock()

    def on_event(self, ev) -> None:
        with self._lock:
            self.events += 1
            if ev.kind == "export":
                self.exports += 1
                self.exported_bytes += ev.size or 0
                self.recent.append(ev)

    def on_status(self, st) -> None:
        with self._lock:
            self.state, self.reason, self.lost = st.state, st.reason, st.lost_events

    def text(self) -> Text:
        with self._lock:
            t = Text(no_wrap=True, overflow="ellipsis")
            if self.state in ("unsupported", "denied"):
                why = ("this kernel has no dma_buf tracepoints (Linux 7.0+)" if self.reason == "no-dma_buf-events"
                       else f"{self.state}: {self.reason}")
                t.append(f" allocations: no live events, {why}; snapshots only", style="dim")
                return t
            t.append(" allocations ", style="bold")
            t.append(f"{self.exports} exported, {human_size(self.exported_bytes)}"
                     + (f", {self.lost} events lost" if self.lost else "")
                     + (f" (trace {self.state}: {self.reason})" if self.state in ("cut", "ended") else ""))
            for ev in reversed(self.recent):
                t.append(f"  · {ev.ts:.3f} {human_size(ev.size)} {safe(ev.exporter or '?')} by "
                         f"{safe(ev.comm)}[{ev.process}]")
            return t


class EventsBar(Bar):
    def __init__(self, events: LiveEvents, **kw) -> None:
        super().__init__(**kw)
        self.events = events

    def on_mount(self) -> None:
        self.update(self.events.text())
        self.set_interval(0.5, lambda: self.update(self.events.text()))
