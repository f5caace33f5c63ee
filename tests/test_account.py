"""Accounting is exact: integer bytes, PSS sums to held bytes, fd-only vs mapped never overlap."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.model.account import account
from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot


def snap(buffers, pids=()):
    procs = {p: Process(pid=p, name=f"p{p}") for p in pids}
    for b in buffers:
        for p in b.holders:
            procs.setdefault(p, Process(pid=p))
    return Snapshot(time=0, device=DeviceInfo(), buffers={b.key: b for b in buffers},
                    processes=procs, sources={})


def buf(key, size, holders=None, tag="other", exporter="system", holders_known=True):
    return Buffer(key=key, size=size, exporter=exporter, holders=holders or {}, tag=tag,
                  holders_known=holders_known)


FD = Holding(fds=(3,))
MAP = Holding(maps=(MapRef(0x1000, 0x2000, rss=0),))
BOTH = Holding(fds=(4,), maps=(MapRef(0x1000, 0x3000, rss=4096),))


def test_pss_remainder_goes_to_lowest_pids_and_sums_exactly():
    a = account(snap([buf("ino:1", 10, {30: FD, 10: FD, 20: MAP})]))
    assert [a.processes[p].pss for p in (10, 20, 30)] == [4, 3, 3]
    assert sum(p.pss for p in a.processes.values()) == 10
    assert a.totals.sum_pss == a.totals.userspace == 10
    assert a.totals.sum_rss == 30


def test_fd_only_mapped_in_rss_and_kernel_only():
    s = snap([
        buf("ino:1", 4096, {100: FD}, tag="camera"),
        buf("ino:2", 8192, {100: BOTH, 200: FD}, tag="gl"),
        buf("ino:3", 1 << 20, {}, tag="other"),                       # nobody holds it
        buf("ino:4", 512, {}, holders_known=False),                    # unreadable holders
    ], pids=(1,))
    a = account(s)
    p100, p200 = a.processes[100], a.processes[200]
    assert (p100.rss, p100.fd_only, p100.mapped, p100.in_rss) == (4096 + 8192, 4096, 8192, 4096)
    assert (p200.rss, p200.fd_only, p200.mapped) == (8192, 8192, 0)
    assert p100.by_tag == {"camera": 4096, "gl": 8192}
    t = a.totals
    assert t.bytes == 4096 + 8192 + (1 << 20) + 512
    assert t.userspace == 4096 + 8192
    assert t.kernel_only == 1 << 20 and t.kernel_only_buffers == ("ino:3",)
    assert t.unattributed == 512
    assert t.fd_only == 4096 and t.mapped == 8192       # unique: ino:2 is mapped by someone
    assert 1 not in a.processes                          # holds nothing


def test_holding_known_only_by_kind_counts_in_rss_not_in_fd_only_or_mapped():
    a = account(snap([buf("ino:9", 3000, {7: Holding(by="unknown"), 8: Holding(by="map")})]))
    assert (a.processes[7].rss, a.processes[7].fd_only, a.processes[7].mapped) == (3000, 0, 0)
    assert a.processes[8].mapped == 3000
    assert a.totals.fd_only == 0 and a.totals.mapped == 3000


holdings = st.sampled_from([FD, MAP, BOTH, Holding(by="unknown")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 40), st.dictionaries(st.integers(1, 50), holdings, max_size=8)),
                max_size=30))
def test_invariants_hold_for_any_snapshot(spec):
    bufs = [buf(f"ino:{i}", size, holders) for i, (size, holders) in enumerate(spec)]
    a = account(snap(bufs))
    t = a.totals
    assert t.sum_pss == t.userspace
    assert t.userspace + t.kernel_only + t.unattributed == t.bytes
    assert t.sum_rss >= t.userspace
    for p in a.processes.values():
        assert p.fd_only + p.mapped <= p.rss
        assert sum(p.by_tag.values()) == p.rss
        assert sum(p.pss_by_tag.values()) == p.pss
        assert 0 <= p.pss <= p.rss
    assert sum(t.by_tag.values()) == t.bytes == sum(t.by_exporter.values())


def test_groups_count_a_shared_buffer_once_and_follow_the_process_rules():
    from droidtrack.model.account import process_groups, tag_groups
    s = snap([buf("a", 100, {1: Holding(fds=(3,)), 2: Holding(by="map")}, tag="gl"),
              buf("b", 10, {1: Holding(fds=(4,)), 3: Holding(by="unknown")}, tag="gl"),
              buf("c", 7, {3: Holding(fds=(5,))}, tag="camera"),
              buf("d", 5, {}, tag="camera")])
    acc = account(s)
    g = process_groups(s, acc, {1: "x", 2: "x", 3: "y"})
    assert (g["x"].rss, g["x"].mapped, g["x"].fd_only, g["x"].buffers, g["x"].pids) == (110, 100, 10, 2, (1, 2))
    assert (g["y"].rss, g["y"].mapped, g["y"].fd_only) == (17, 0, 7)        # b: unknown kind, in neither
    assert g["x"].pss + g["y"].pss == acc.totals.sum_pss
    for pid in (1, 2, 3):                                                   # a group of one is the process
        one = process_groups(s, acc, {pid: "p"})["p"]
        a = acc.processes[pid]
        assert (one.rss, one.pss, one.fd_only, one.mapped, one.buffers) == (a.rss, a.pss, a.fd_only, a.mapped, a.buffers)
    t = tag_groups(s, acc)
    assert (t["gl"].rss, t["gl"].mapped, t["gl"].fd_only, t["gl"].pids) == (110, 100, 0, (1, 2, 3))
    assert (t["camera"].rss, t["camera"].fd_only) == (7, 7)                  # kernel-only d is not held
    assert sum(x.pss for x in t.values()) == acc.totals.sum_pss
    assert acc.totals.buffers_by_exporter == {"system": 4}


def test_matching_sums_the_selected_keys_of_a_one_key_per_buffer_split():
    s = snap([buf("a", 100, {1: FD}, exporter="qcom,system"), buf("b", 30, exporter="qcom,secure"),
              buf("c", 7, {2: FD}, exporter="system")])
    from droidtrack.model.account import matching
    t = account(s).totals
    assert matching(t.by_exporter, lambda e: e.startswith("qcom,")) == (130, ("qcom,secure", "qcom,system"))
    assert matching(t.by_exporter, lambda e: False) == (0, ())
    assert matching(t.by_exporter, lambda e: True)[0] == t.bytes
