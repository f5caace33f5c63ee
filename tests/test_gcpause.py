"""The cyclic GC is paused while a snapshot is built, and always given back as it was."""
from __future__ import annotations

import gc

import pytest

from droidtrack import frames, gcpause
from droidtrack.pipeline import snapshot_from_frames


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
