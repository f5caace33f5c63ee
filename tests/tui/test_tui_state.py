"""The per-device history and the per-snapshot Frame: rows, groups, Δ, kernel-only last holders,
leak suspects, and the memory bound of a long session."""
from __future__ import annotations

from droidtrack.model.account import account
from droidtrack.model import Buffer, Holding, Process, Snapshot
from droidtrack.tui.state import DeviceTimeline, Series

import factory
from factory import MiB


def frames(n):
    h = DeviceTimeline()
    return h, [h.ingest(s) for s in factory.series(n)]


def test_process_rows_match_accounting():
    h = DeviceTimeline()
    snap = factory.small(0)
    f = h.ingest(snap)
    acc = account(snap)
    rows = f.rows["process"]
    assert set(rows) == {f"p:{pid}" for pid in acc.processes}
    for pid, a in acc.processes.items():
        r = rows[f"p:{pid}"]
        assert (r.rss, r.pss, r.fd_only, r.mapped, r.in_rss, r.count) == \
               (a.rss, a.pss, a.fd_only, a.mapped, a.in_rss, a.buffers)
        assert r.delta == 0
    # short labels: an executable's path shows as its file name
    assert rows["p:700"].name == "android.hardware.camera.provider@2.7-service"
    assert rows["p:2001"].by_tag[0][0] == "graphics"


def test_package_group_counts_shared_buffers_once():
    _, fs = frames(1)
    pkg = fs[-1].rows["package"]["k:com.example.camera"]
    assert pkg.pids == (3100, 3101) and pkg.ident == "2 procs"
    # both processes hold the same 4 camera buffers: the package has them once
    assert pkg.rss == 4 * 12 * MiB and pkg.count == 4
    proc = fs[-1].rows["process"]
    assert pkg.pss == proc["p:3100"].pss + proc["p:3101"].pss


def test_tag_rows():
    _, fs = frames(1)
    cam = fs[-1].rows["tag"]["t:camera"]
    assert cam.rss == 4 * 12 * MiB and set(cam.pids) == {700, 3100, 3101}
    assert cam.pss == cam.rss   # the shares of a tag's held buffers add up to its bytes


def test_delta_since_first_sample():
    _, fs = frames(4)
    rows = fs[-1].rows["process"]
    assert rows["p:3100"].delta == 3 * 12 * MiB        # leaks one 12 MiB buffer per step
    assert rows["p:1234"].delta == -1 * MiB             # released orphan-later after step 0
    assert rows["p:5000"].delta == 0                    # appeared at step 2: Δ since its first sample


def test_kernel_only_keeps_last_known_holder():
    _, fs = frames(2)
    ko = {r.name: r for r in fs[-1].kernel_only}
    assert ko["orphan-later"].last_holder == "system_server (1234)"
    assert ko["orphan-later"].last_held == factory.T0
    assert ko["display-scratch"].last_holder is None
    assert ko["display-scratch"].age == 2.0


def test_leaks_since_baseline_and_reset():
    h, fs = frames(4)
    f = fs[-1]
    assert f.baseline.seq == 1 and f.baseline.auto
    leak = {p.pid: p for p in f.leak_procs}
    assert set(leak) == {700, 3100, 3101, 4000}
    assert leak[3100].base == 4 * 12 * MiB and leak[3100].now == 7 * 12 * MiB
    assert {b.name for b in f.leak_buffers} >= {"Camera3-Stream#4", "Camera3-Stream#6", "AHardwareBuffer youtube"}
    # system_server shrank: not a suspect
    assert 1234 not in leak
    h.set_baseline(f)
    g = h.ingest(factory.small(4))
    assert g.baseline.seq == 4 and not g.baseline.auto
    assert [p.pid for p in g.leak_procs if p.pid == 3100] == [3100]
    assert [b.name for b in g.leak_buffers] == ["Camera3-Stream#7"]


def test_a_process_that_shrinks_once_is_no_suspect():
    h = DeviceTimeline()
    h.ingest(factory.small(0))
    h.ingest(factory.small(3))
    # step 1 has fewer camera buffers than step 3: the camera app shrank
    f = h.ingest(factory.small(1))
    f = h.ingest(factory.small(2))
    assert 3100 not in {p.pid for p in f.leak_procs}


def test_tag_and_exporter_series():
    _, fs = frames(4)
    tags = {t.key: t for t in fs[-1].tags}
    assert tags["camera"].spark == tuple(12 * MiB * (4 + i) for i in range(4))
    assert tags["camera"].delta == 3 * 12 * MiB
    assert fs[-1].total_spark[-1] == fs[-1].acc.totals.bytes


def test_buffers_of_is_memoized():
    _, fs = frames(1)
    f = fs[-1]
    a = f.buffers_of([3100])
    assert a is f.buffers_of((3100,))
    assert len(a) == 4 and all(3100 in b.holders for b in a)
    assert {b.key for b in f.buffers_of([3100, 2001])} == {b.key for b in a} | {b.key for b in f.buffers_of([2001])}


def _churn(i: int) -> Snapshot:
    """A device whose 50 buffers are all new every sample (a fresh inode each time)."""
    bufs = {}
    for j in range(50):
        k = f"ino:{i * 100 + j}"
        bufs[k] = Buffer(k, 4096, i * 100 + j, "system", f"b{j}", holders={(i + j) % 7 + 1: Holding(fds=(3,))})
    procs = {p: Process(p, f"p{p}") for p in range(1, 8)}
    return Snapshot(float(i), factory.DEVICE, bufs, procs, {})


def test_history_is_bounded_in_a_long_session():
    h = DeviceTimeline(forget_after=20, recent=30)
    for i in range(1000):
        f = h.ingest(_churn(i))
    # without forgetting it would track 50,000 buffers
    assert h.tracked() <= 50 * (20 + 50)
    assert len(h.first_seen) == h.tracked() and len(h.last_holders) <= h.tracked()
    assert len(h.total_series) == 30 and all(len(s) <= 30 for s in h.tag_series.values())
    assert len(h.long_total.points) < h.long_total.cap
    # what is still alive is still known
    assert all(f.first_seen_of(b) is not None for b in f.snapshot.buffers.values())


def test_history_hard_cap():
    h = DeviceTimeline(forget_after=10_000, max_tracked=500)
    for i in range(60):
        h.ingest(_churn(i))
    assert h.tracked() <= 500 + 50 * 50   # checked every 50 samples or when over the cap
    h.ingest(_churn(60))
    assert h.tracked() <= 500


def test_series_downsamples_keeping_peaks():
    s = Series(cap=8)
    for i in range(100):
        s.add(1000 if i == 37 else i)
    assert len(s.points) < 8 and s.step > 1
    assert 1000 in s.points


def test_a_holding_known_only_by_kind_splits_the_same_in_every_row():
    """_package_rows/_tag_rows decided fd-only vs mapped from h.maps and ignored Holding.by: a
    by="map" holding was MAPPED in its process row and FD-ONLY in its package and tag rows."""
    procs = {7: Process(7, "cam", ("com.example.cam",), uid=10007),
             8: Process(8, "cam:svc", ("com.example.cam:svc",), uid=10007)}
    bufs = {"ino:1": Buffer("ino:1", 4 * MiB, 1, "system", "x", holders={7: Holding(by="map")}, tag="camera"),
            "ino:2": Buffer("ino:2", 2 * MiB, 2, "system", "y", holders={8: Holding(by="unknown")}, tag="camera"),
            "ino:3": Buffer("ino:3", 1 * MiB, 3, "system", "z", holders={8: Holding(fds=(3,))}, tag="gl")}
    snap = Snapshot(time=1.0, device=factory.small(0).device, buffers=bufs, processes=procs, sources={})
    f = DeviceTimeline().ingest(snap)
    p7 = f.rows["process"]["p:7"]
    pkg = f.rows["package"]["k:com.example.cam"]
    cam = f.rows["tag"]["t:camera"]
    assert (p7.mapped, p7.fd_only) == (4 * MiB, 0)
    assert (pkg.rss, pkg.mapped, pkg.fd_only, pkg.pss) == (7 * MiB, 4 * MiB, 1 * MiB, 7 * MiB)
    assert (cam.rss, cam.mapped, cam.fd_only, cam.pids) == (6 * MiB, 4 * MiB, 0, (7, 8))


def test_a_far_replay_target_shows_its_first_frame_at_once():
    """`top --replay` opens at the last sample, and reaching it means ingesting every sample in
    order; the first frame must not wait for that (issue 12 #5: a 100-sample recording of a big
    device spun for minutes on 'waiting for the first snapshot')."""
    from droidtrack.tui.feed import ReplayFeed

    snaps = factory.series(6)
    read: list[int] = []

    class Slow(list):
        def __getitem__(self, i):
            read.append(i)
            return list.__getitem__(self, i)

    shown: list[tuple[int, int]] = []      # (samples read when the frame arrived, frame seq)
    feed = ReplayFeed(Slow(snaps), "bench", history_factory=DeviceTimeline, interval=1.0,
                      on_frame=lambda f: shown.append((len(read), f.seq)), on_error=None)
    feed.CATCH_UP_FRAME = 3600.0           # no timed frames in between: first and last only
    feed._advance()
    assert shown[0] == (1, 1)              # shown after the first sample, not after all six
    assert shown[-1] == (6, 6) and len(shown) == 2
    assert feed.position == 5
