"""top --trace: the allocations bar (tui/events.py) under the summary."""
from __future__ import annotations

from droidtrack.parse.dmabuf_trace import TraceEvent, TraceStatus
from droidtrack.tui.app import TopApp
from droidtrack.tui.events import LiveEvents

import factory
from tuihelp import ListSource, feed

SIZE = (130, 40)


def export(ino, comm, pid, size):
    return TraceEvent(kind="export", ts=12.5 + ino, pid=pid, tgid=pid, comm=comm, cpu=0, ino=ino, size=size,
                      exporter="system")


async def test_the_bar_shows_allocations_as_they_happen():
    ev = LiveEvents()
    app = TopApp(ListSource(factory.series(2)), start=False, events=ev)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, factory.series(2))
        ev.on_status(TraceStatus(state="streaming"))
        ev.on_event(export(1, "cam hal\x1b[31m", 700, 8 << 20))
        ev.on_event(TraceEvent(kind="fd", ts=13.0, pid=700, tgid=700, comm="x", cpu=0, ino=1, size=8 << 20,
                               exporter="system", fd=5))
        ev.on_event(export(2, "allocator", 701, 4096))
        await pilot.pause(0.7)
        text = str(app.pane.query_one("#events").render())
        assert "2 exported, 8.0 MiB" in text
        assert "4.0 KiB system by allocator[701]" in text and "by cam hal" in text and "\x1b" not in text
        assert text.index("allocator") < text.index("cam hal")        # newest first


async def test_a_kernel_without_events_says_so_in_the_bar():
    ev = LiveEvents()
    ev.on_status(TraceStatus(state="unsupported", reason="no-dma_buf-events"))
    app = TopApp(ListSource(factory.series(1)), start=False, events=ev)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "no dma_buf tracepoints" in str(app.pane.query_one("#events").render())


async def test_without_trace_there_is_no_bar():
    app = TopApp(ListSource(factory.series(1)), start=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.pane.query("#events")
