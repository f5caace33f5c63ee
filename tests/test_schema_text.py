"""schema.dumps writes the document without building it: its text must be exactly what
json.dumps(to_dict(...), indent=2, ensure_ascii=True) prints, for any snapshot the model can hold
(odd names, None where a number usually is, a holding known only by kind, NaN, a bool where an
int usually is), not only for the ones the pipeline makes."""
from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.model.account import account
from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus
from droidtrack.model import schema
from droidtrack.model.problems import Problem
from report_helpers import snapshot as report_snapshot


def reference(snap: Snapshot, **kw) -> str:
    return json.dumps(schema.to_dict(snap, account(snap), **kw), indent=2, ensure_ascii=True) + "\n"


def same(snap: Snapshot) -> None:
    acc = account(snap)
    for all_processes in (False, True):
        assert schema.dumps(snap, acc, all_processes=all_processes) == reference(snap, all_processes=all_processes)


def test_report_snapshot_with_hostile_names():
    same(report_snapshot())
    same(report_snapshot(extra_camera=5, nasty=False))


def test_empty_snapshot():
    same(Snapshot(time=0.0, device=DeviceInfo(), buffers={}, processes={}, sources={}))


def test_odd_values_take_json_s_own_rules():
    procs = {1: Process(1, "a\x00b", ("x", "\udcff", "é"), uid=None, reported={"dmabuf_rss": 5}),
             2: Process(2, "", (), uid=10001, fds_readable=False, maps_readable=True)}
    bufs = {
        "ino:1": Buffer("ino:1", 4096, 1, None, None, None, (), {
            1: Holding((True, 3), (MapRef(1, 2, 0, "rw-s", None, 0),)),       # a bool among the fds
            2: Holding((1,), (), "unknown")}, "other", "default", ("bufinfo",), {"size": "bufinfo"}, False),
        "ino:2": Buffer("ino:2", 8192, None, "ex\n", "n\u2028m", 3, ("dev0", "dev\t1"), {
            1: Holding((True,)), 2: Holding((1,)), 3: Holding((7, 5), (MapRef(0, 4096), MapRef(8192, 12288)))},
            "gl", "r\"1\"", ("a", "b"), {"name": "fdinfo", "size": "maps (VMA length + offset: a lower bound)"}),
        "ino:3": Buffer("ino:3", 8192, 3, "x", "y", True, (), {4: Holding((1,))}, "gl", "r", ("a", "b"),
                        {"size": "sysfs"}, True),
        "bufinfo:1": Buffer("bufinfo:1", 1, None, "e", None, -1, (), {}, "other", "", (), {}),
        "ino:5": Buffer("ino:5", 100, 5, "e", None, 1, (), {True: Holding((True,)), 8: Holding((True,)), 9: Holding((1,))}, "other", "",
                        (), {}),       # after (1,) was written: True == 1, but its text is "true"
    }
    snap = Snapshot(time=1.5e9, device=DeviceInfo(serial="s\x1b", sdk=34, uid=0), buffers=bufs, processes=procs,
                    sources={"b": SourceStatus("ok", "d\x7f")}, problems=(Problem("x", "m", line=3, text="t"),),
                    reported={"bufinfo.total": 12289, "nan": math.nan}, origin="o")
    same(snap)


texts = st.text(st.characters(blacklist_categories=()), max_size=6)
ints = st.integers(min_value=-2**70, max_value=2**70)
maybe_int = st.one_of(st.none(), ints, st.booleans())
maprefs = st.builds(MapRef, ints, ints, ints, texts, maybe_int, maybe_int)
holdings = st.builds(Holding, st.lists(st.one_of(ints, st.booleans()), max_size=3).map(tuple),
                     st.lists(maprefs, max_size=2).map(tuple), st.one_of(st.none(), texts))
buffers = st.builds(Buffer, texts, ints, maybe_int, st.one_of(st.none(), texts), st.one_of(st.none(), texts),
                    maybe_int, st.lists(texts, max_size=2).map(tuple),
                    st.dictionaries(st.integers(0, 50), holdings, max_size=3), texts, texts,
                    st.lists(texts, max_size=3).map(tuple), st.dictionaries(texts, texts, max_size=3),
                    st.booleans())
processes = st.builds(Process, st.integers(0, 60), texts, st.lists(texts, max_size=2).map(tuple), maybe_int,
                      maybe_int, maybe_int, st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.booleans()),
                      st.dictionaries(texts, ints, max_size=2))


@settings(max_examples=150, deadline=None)
@given(st.lists(buffers, max_size=6), st.lists(processes, max_size=4), st.floats(allow_nan=True))
def test_any_snapshot(bufs, procs, t):
    snap = Snapshot(time=t, device=DeviceInfo(), buffers={b.key: b for b in bufs},
                    processes={p.pid: p for p in procs}, sources={}, reported={})
    try:
        want = reference(snap)
    except TypeError:      # a value json cannot encode: dumps must refuse it too
        return
    assert schema.dumps(snap, account(snap)) == want
