"""Screenshot tests (pytest-textual-snapshot) of the main screens, fed from the factory's phone
with a frozen clock (every time shown is a snapshot's time, rendered in UTC). Baselines live in
tests/tui/__snapshots__/; after an intended change: pytest tests/tui --snapshot-update, then look
at the SVGs before committing them."""
from __future__ import annotations

from droidtrack.tui.app import TopApp
from droidtrack.tui.messages import FeedError

import factory
from tuihelp import ListSource, feed

SIZE = (130, 36)


def make_app():
    return TopApp(ListSource(factory.series(4)), start=False)


async def _fed(pilot):
    feed(pilot.app, factory.series(4))
    await pilot.pause()


def test_processes(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed)


def test_grouped_by_package(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["g"])


def test_tags_and_reconciliation(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["2"])


def test_kernel_only(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["3"])


def test_leaks(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["4"])


def test_process_drill_down(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["down", "enter"])


def test_buffer_drill_down(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["down", "enter", "enter"])


def test_disconnected(snap_compare):
    async def run_before(pilot):
        await _fed(pilot)
        pilot.app.pane.post_message(FeedError("device emulator-5554 offline", 5.0, 3))
        await pilot.pause()
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_owners(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["5"])


def test_owner_drill_down(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_fed, press=["5", "enter", "down"])
