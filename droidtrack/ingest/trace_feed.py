"""The host side of `droidtrack trace`: trace.sh's bytes in, events and per-buffer lifetimes out.

One `TraceFeed` per stream: `feed`/`feed_stderr` take chunks as adb delivers them (any size, cut
anywhere), parse them (parse/dmabuf_trace.py), fold every event into the lifetimes
(model/lifetimes.py) and hand each to `on_event` (the live printer, a writer). Everything that
arrived is kept when the stream is cut: `close(error)` says how it ended. The benchmark
(bench/trace_bench.py) measures this path.
"""
from __future__ import annotations

from typing import Callable

from droidtrack.model.lifetimes import Lifetimes
from droidtrack.parse.dmabuf_trace import TraceEvent, TraceReader, TraceStatus


class TraceFeed:
    def __init__(self, token: str, on_event: Callable[[TraceEvent], None] | None = None,
                 on_status: Callable[[TraceStatus], None] | None = None) -> None:
        self.token = token
        self.reader = TraceReader(token)
        self.lifetimes = Lifetimes()
        self.on_event = on_event
        self.on_status = on_status
        self._state = self.reader.status.state
        self.bytes = 0
        self.closed = False

    @property
    def status(self) -> TraceStatus:
        return self.reader.status

    @property
    def problems(self):
        return self.reader.problems

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        events = self.reader.feed(data)
        apply = self.lifetimes.apply
        cb = self.on_event
        for ev in events:
            apply(ev)
            if cb is not None:
                cb(ev)
        self._changed()

    def feed_stderr(self, data: bytes) -> None:
        self.reader.feed_stderr(data)

    def _changed(self) -> None:
        st = self.reader.status.state
        if st != self._state:
            self._state = st
            if self.on_status is not None:
                self.on_status(self.reader.status)

    def close(self, error: str | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self.reader.close(error)
        self._changed()
