"""The cyclic GC is paused while a snapshot is built, and always given back as it was."""
from __future__ import annotations

import gc

import pytest

from droidtrack.collect import frames
from droidtrack.ingest import gcpause
from droidtrack.ingest.stream import snapshot_from_frames


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_disables_then_restores():
    gc.enable()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():          # nests
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_restored_after_an_exception():
    gc.enable()
    with pytest.raises(ZeroDivisionError):
        with gcpause.paused():
            1 / 0
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    with gcpause.paused():
        pass
    assert not gc.isenabled()


def test_snapshot_leaves_the_collector_as_it_found_it():
    data = frames.encode([frames.Section("props", b"ro.product.model=X\n", rc=0, status="ok")], "tok")
    for state in (True, False):
        (gc.enable if state else gc.disable)()
        snapshot_from_frames(frames.decode(data, "tok"), time=0.0)
        assert gc.isenabled() is state


def test_what_survives_goes_to_the_oldest_generation():
    gc.enable()
    gc.collect()
    with gcpause.paused():
        kept = [[i] for i in range(2000)]
    assert gc.get_freeze_count() == 0
    assert len(gc.get_objects(0)) < 1000          # not left young: no walk of them right away
    assert any(o is kept for o in gc.get_objects(2))


def test_an_application_s_frozen_objects_stay_frozen():
    gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gcpause.paused():
            pass
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()
