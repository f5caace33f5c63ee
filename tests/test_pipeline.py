"""End to end on synthetic device roots: the real collector (sh) -> frames -> parsers -> build ->
account, compared with what the tree was built to hold (DeviceTree.truth())."""
from __future__ import annotations

import pytest

from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.sources.localroot import LocalRootSource
from droidtrack.sim.synth import DeviceTree


def phone(generation: str, **kw) -> DeviceTree:
    t = DeviceTree(generation, **kw)
    t.add_process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000, ppid=1)
    t.add_process(600, "allocator@4.0-s", ("/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service",), uid=1000, ppid=1)
    t.add_process(7000, "id.GoogleCamera", ("com.google.android.GoogleCamera",), uid=10100, ppid=1)
    t.add_process(7100, "media.codec", ("media.codec",), uid=1046, ppid=1)
    t.add_process(7200, "idle app", ("com.example.idle",), uid=10200, ppid=1)
    win = t.add_buffer(8294400, "system", "gralloc")
    for pid in (500, 600, 7000):
        t.hold_fd(pid, win)
    t.hold_map(7000, win)                                # the app draws into it
    prev = [t.add_buffer(1 << 20, "system", "CAMERA") for _ in range(3)]
    for b in prev:
        t.hold_fd(7000, b)                               # fd-only: in no RSS
    part = t.add_buffer(4 << 20, "system", None)         # unnamed, mapped in a partial window
    t.hold_map(7100, part, offset=4096, length=8192)
    t.hold_fd(7100, part)
    maponly = t.add_buffer(65536, "system", "map only")
    t.hold_map(7100, maponly)                            # fd closed after mmap
    t.add_buffer(2 << 20, "system", "kernel held")       # nobody holds it
    return t


def collect(tmp_path, tree):
    root = tmp_path / "root"
    tree.write(root)
    return LocalRootSource(str(root)).collect().snapshot


def by_inode(snap):
    return {b.inode: b for b in snap.buffers.values()}


@pytest.mark.parametrize("generation", ["a13-5.15", "a15-6.6", "a11-5.4"])
def test_every_buffer_and_holder_matches_the_truth(tmp_path, generation):
    tree = phone(generation)
    truth = tree.truth()
    snap = collect(tmp_path, tree)
    got = by_inode(snap)
    for tb in truth["buffers"]:
        held = bool(tb["holders"])
        if not held and generation == "a15-6.6" and not tree.g.sysfs_stats:
            continue
        b = got.get(tb["inode"])
        if b is None:
            # without debugfs or sysfs stats, a buffer nobody holds is invisible: that is the kernel's limit
            assert not held, f"held buffer {tb['inode']} missing"
            continue
        # sysfs stats carry no name: a buffer only sysfs knows is rightly unnamed
        name = None if b.sources == ("sysfs",) else tb["name"]
        assert (b.size, b.exporter, b.name) == (tb["size"], tb["exporter"], name), tb
        want = {int(pid): (sorted(h["fds"]), sorted((m["start"], m["end"]) for m in h["maps"]))
                for pid, h in tb["holders"].items()}
        have = {pid: (sorted(h.fds), sorted((m.start, m.end) for m in h.maps)) for pid, h in b.holders.items()}
        if generation == "a11-5.4":
            # fdinfo has no ino: an fd joins its buffer only where size+exporter+name is unique;
            # the rest are counted per process (never guessed), checked below
            for pid, (fds, maps) in want.items():
                hf, hm = have.get(pid, ([], []))
                assert hm == maps and set(hf) <= set(fds), f"inode {tb['inode']} pid {pid}"
            continue
        assert have == want, f"inode {tb['inode']}"
    if generation == "a11-5.4":
        for pid_s, tp in truth["processes"].items():
            pid = int(pid_s)
            joined = sum(len(b.holders[pid].fds) for b in snap.buffers.values() if pid in b.holders)
            unjoined = snap.processes[pid].reported.get("unjoined_fds", 0) if pid in snap.processes else 0
            assert joined + unjoined == tp["dmabuf_fds"], pid
        assert any(p.reported.get("unjoined_fds") for p in snap.processes.values())
        assert not any(b.holders_known for b in snap.buffers.values())   # so nothing is called kernel-only
        return
    acc = account(snap)
    for pid_s, tp in truth["processes"].items():
        pa = acc.processes.get(int(pid_s))
        assert (pa.rss if pa else 0) == tp["dmabuf_rss"], pid_s
    assert acc.totals.sum_pss == acc.totals.userspace == truth["totals"]["held_bytes"]


def test_accounting_of_the_phone(tmp_path):
    snap = collect(tmp_path, phone("a13-5.15"))
    acc = account(snap)
    cam, codec = acc.processes[7000], acc.processes[7100]
    assert cam.rss == 8294400 + 3 * (1 << 20)
    assert cam.fd_only == 3 * (1 << 20) and cam.mapped == 8294400
    assert cam.pss == 8294400 // 3 + 3 * (1 << 20) + (1 if 8294400 % 3 else 0)
    assert codec.mapped == (4 << 20) + 65536 and codec.fd_only == 0
    t = acc.totals
    assert t.kernel_only == 2 << 20 and len(t.kernel_only_buffers) == 1
    assert t.by_tag["camera"] == 8294400 + 3 * (1 << 20)     # the window is the camera app's
    assert 7200 not in acc.processes
    assert snap.reported.get("sysfs.total") == t.bytes
    # the JSON document carries the same numbers
    d = schema.to_dict(snap, acc)
    assert d["schema"] == "droidtrack.snapshot/1"
    p = next(p for p in d["processes"] if p["pid"] == 7000)
    assert (p["rss"], p["fd_only"], p["package"]) == (cam.rss, cam.fd_only, "com.google.android.GoogleCamera")


def test_a9_kernel_without_inodes_counts_but_never_guesses(tmp_path):
    snap = collect(tmp_path, phone("a9-4.9"))
    acc = account(snap)
    # bufinfo lists every buffer, but no reference can be joined to one
    assert all(not b.holders and not b.holders_known for b in snap.buffers.values())
    assert acc.totals.kernel_only == 0 and acc.totals.unattributed == acc.totals.bytes
    cam = snap.processes[7000]
    assert cam.reported.get("unjoined_fds") == 4


def test_hostile_names_stay_literal(tmp_path):
    t = DeviceTree("a13-5.15")
    evil = "[bold]\x1b[31mx\tq"
    t.add_process(4242, "evil\x1b]0;t", ("com.evil:[red]",), uid=10001, ppid=1)
    b = t.add_buffer(4096, "system", evil)
    t.hold_fd(4242, b)
    t.hold_map(4242, b)
    snap = collect(tmp_path, t)
    got = by_inode(snap)[b.inode]
    assert got.name == evil
    assert set(got.holders) == {4242}


def test_the_bpf_iterator_is_a_complete_list_for_fds_without_an_inode(tmp_path):
    """fdinfo without ino: on a root whose only buffer list is the pinned iterator (no bufinfo, no
    sysfs stats): an fd joins on size+exporter+name where exactly one listed buffer fits, the
    others are counted per process (issue 16)."""
    from dataclasses import replace
    tree = phone("a17-7.3")
    tree.g = replace(tree.g, fdinfo="noino")
    root = tmp_path / "root"
    tree.write(root)
    snap = LocalRootSource(str(root), fd_inodes="never").collect().snapshot
    assert snap.sources["dmabuf_iter"].status == "ok"
    assert all(snap.sources[s].status != "ok" for s in ("bufinfo", "sysfs_stats") if s in snap.sources)
    win = next(b for b in snap.buffers.values() if b.name == "gralloc")
    assert sorted(win.holders) == [500, 600, 7000]
    assert win.provenance["fd_join"].endswith("(unique)")
    cams = [b for b in snap.buffers.values() if b.name == "CAMERA"]
    assert len(cams) == 3 and not any(b.holders.get(7000) and b.holders[7000].fds for b in cams)
    assert snap.processes[7000].reported["unjoined_fds"] == 3
