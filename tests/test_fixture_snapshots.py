"""droidtrack's snapshot of every committed phone fixture, two ways:

1. exact: the JSON `droidtrack snapshot` prints for fixtures/<gen>/ equals the committed
   fixtures/<gen>/expected.json byte for byte (after `time`, the version and the origin, which
   name the run, not the phone). Any change in what droidtrack says about a known phone shows
   up here as a diff to review; regenerate with
       DROIDTRACK_UPDATE_EXPECTED=1 python3 -m pytest -q tests/test_fixture_snapshots.py
   and commit the diff with the change that caused it.
2. against the truth: the numbers in expected.json are not trusted because droidtrack wrote them.
   They are checked against truth.json, which synth.py computes from the phone's definition
   (not from the files the collector reads), to the extent each generation lets anyone know:
   exact per buffer and per process where the kernel gives identity (a13, a15 as root and as the
   shell user for what the shell can read, memtrack-rfc through memtrack ids), per-process
   counts of references that cannot be joined elsewhere (a9: no identity at all; a11: fdinfo
   without `ino:`).

The collector runs for real: Android's shell (static mksh) with toybox applets; a15-6.6 as
uid 2000 on a copy with its permissions.txt applied, as `adb shell` on a user build.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collector_support import TOKEN, copy_tree, run_collector
from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.ingest.stream import snapshot_from_stream
from droidtrack.sim.synth import GENERATIONS, apply_permissions

REPO = Path(__file__).resolve().parent.parent
SHELL = "mksh-static+toybox"
UPDATE = os.environ.get("DROIDTRACK_UPDATE_EXPECTED") == "1"
VOLATILE = ("time", "droidtrack", "origin")


def collect(gen: str) -> dict:
    root = copy_tree(REPO / "fixtures" / gen, f"fx-{gen}")
    uid = None
    if gen == "a15-6.6":
        if os.geteuid() != 0:
            pytest.skip("needs root to run the collector as uid 2000")
        apply_permissions(root)
        uid = 2000
    run = run_collector(root, SHELL, uid=uid)
    assert run.rc == 0, run.stderr
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0, origin=f"fixture:{gen}")
    d = schema.to_dict(snap, account(snap))
    for k in VOLATILE:
        d.pop(k)
    return d


_cache: dict[str, dict] = {}


def snapshot(gen: str) -> dict:
    if gen not in _cache:
        _cache[gen] = collect(gen)
    return _cache[gen]


def text(d: dict) -> str:
    return json.dumps(d, indent=1, sort_keys=False, ensure_ascii=True) + "\n"


@pytest.mark.parametrize("gen", GENERATIONS)
def test_snapshot_is_the_committed_expected_json(gen):
    got = text(snapshot(gen))
    path = REPO / "fixtures" / gen / "expected.json"
    if UPDATE:
        path.write_text(got)
    assert path.exists(), f"{path} missing: run with DROIDTRACK_UPDATE_EXPECTED=1"
    want = path.read_text()
    if got != want:
        import difflib
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            "expected.json", "snapshot", n=2))
        pytest.fail(f"droidtrack's snapshot of fixtures/{gen} changed:\n{diff[:6000]}")


# ---- against the truth ------------------------------------------------------------------------
def truth(gen: str) -> dict:
    return json.loads((REPO / "fixtures" / gen / "truth.json").read_text())


def holders_of(b: dict) -> dict[str, tuple[list[int], int]]:
    return {pid: (sorted(h["fds"]), len(h["maps"])) for pid, h in b["holders"].items()}


def procs(snap: dict) -> dict[str, dict]:
    return {str(p["pid"]): p for p in snap["processes"]}


def check_totals(s: dict, t: dict, *, kernel_only_known: bool = True) -> None:
    tt, st = t["totals"], s["totals"]
    assert (st["buffers"], st["bytes"]) == (tt["buffers"], tt["bytes"])
    if kernel_only_known:
        assert st["userspace"] == st["sum_pss"] == tt["held_bytes"]
        assert st["kernel_only"] == tt["kernel_only_bytes"] and st["unattributed"] == 0


def check_processes(s: dict, t: dict, pids=None) -> None:
    sp = procs(s)
    for pid, tp in t["processes"].items():
        if pids is not None and pid not in pids:
            continue
        want = (tp["dmabuf_rss"], tp["dmabuf_pss"])
        got = (sp[pid]["rss"], sp[pid]["pss"]) if pid in sp else (0, 0)
        assert got == want, (pid, tp["name"])


def check_buffers_by_inode(s: dict, t: dict, *, fields=("size", "exporter", "name", "count"),
                           unheld_fields=None) -> None:
    sb = {b["inode"]: b for b in s["buffers"]}
    assert set(sb) == {b["inode"] for b in t["buffers"]}
    for tb in t["buffers"]:
        b = sb[tb["inode"]]
        fs = fields if tb["holders"] or unheld_fields is None else unheld_fields
        assert {f: b[f] for f in fs} == {f: tb[f] for f in fs}, tb["inode"]
        assert holders_of(b) == holders_of(tb), tb["inode"]
        assert b["holders_known"] is True


def unjoined(s: dict) -> tuple[int, int]:
    ps = s["processes"]
    return (sum(p["reported"].get("unjoined_fds", 0) for p in ps),
            sum(p["reported"].get("unjoined_maps", 0) for p in ps))


def test_a13_every_buffer_holder_and_process_is_exact():
    s, t = snapshot("a13-5.15"), truth("a13-5.15")
    check_totals(s, t)
    check_buffers_by_inode(s, t)
    check_processes(s, t)
    assert s["problems"] == []
    assert {k: v["status"] for k, v in s["sources"].items() if v["status"] != "ok"} == {}


def test_a17_with_only_the_bpf_iterator_is_exact():
    """A 7.x phone (no debugfs, no sysfs stats): every buffer, kernel-only ones included, comes
    from the pinned BPF iterator; holders from fdinfo and smaps."""
    s, t = snapshot("a17-7.3"), truth("a17-7.3")
    check_totals(s, t)
    # the iterator prints no reference count: a buffer no process holds has none
    check_buffers_by_inode(s, t, unheld_fields=("size", "exporter", "name"))
    check_processes(s, t)
    assert s["problems"] == []
    assert s["totals"]["kernel_only"] == t["totals"]["kernel_only_bytes"] > 0
    assert {k: v["status"] for k, v in s["sources"].items() if v["status"] != "ok"} == {
        "bufinfo": "not-mounted", "sysfs_stats": "missing"}


def test_a15_shell_user_sees_what_the_shell_may_read():
    """As uid 2000: no bufinfo, no sysfs stats, only its own fds and maps. The kernel's own
    dmabuf_rss/dmabuf_pss files still give every process's figures, and droidtrack says the rest
    is partial rather than kernel-only."""
    s, t = snapshot("a15-6.6"), truth("a15-6.6")
    st = {k: v["status"] for k, v in s["sources"].items()}
    assert st["fdlinks"] == "partial" and st["maps"] == "partial"
    assert st["bufinfo"] in ("missing", "denied", "not-mounted")
    assert s["totals"]["kernel_only"] == 0, "unheld buffers cannot be proven kernel-only as the shell"
    # what the shell can see is exact: its own screenrecord's buffer, by inode, with both holders
    # only as far as the shell can read (its own fd and map)
    shell = [pid for pid, p in t["processes"].items() if p["uid"] == 2000]
    sp = procs(s)
    for pid in shell:
        tp = t["processes"][pid]
        assert sp[pid]["buffers"] == tp["dmabuf_fds"] == 1
        assert sp[pid]["rss"] == tp["dmabuf_rss"]
    # every other process's figures come from the kernel's own files, reported as such
    for pid, tp in t["processes"].items():
        if tp["dmabuf_rss"] and pid not in shell:
            rep = sp[pid]["reported"]
            assert (rep.get("dmabuf_rss"), rep.get("dmabuf_pss")) == (tp["dmabuf_rss"], tp["dmabuf_pss"]), pid
            assert sp[pid]["fds_readable"] is False


def test_a15_as_root_is_exact():
    """The same a15 tree read as root (no permissions applied): everything is known."""
    run = run_collector(copy_tree(REPO / "fixtures" / "a15-6.6", "fx-a15-root"), SHELL)
    s = schema.to_dict(*(lambda sn: (sn, account(sn)))(snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)))
    t = truth("a15-6.6")
    check_totals(s, t)
    # no bufinfo: a buffer nobody holds has no fdinfo either, only sysfs's size and exporter
    check_buffers_by_inode(s, t, unheld_fields=("size", "exporter"))
    check_processes(s, t)


def test_a11_joins_maps_by_inode_and_counts_ambiguous_fds():
    """fdinfo without `ino:`: mappings join on the inode maps print; an fd joins only where
    size+exporter+name pick one buffer. Nothing is guessed: every other fd is counted under its
    process, and the sum of both is every fd the phone has."""
    s, t = snapshot("a11-5.4"), truth("a11-5.4")
    check_totals(s, t, kernel_only_known=False)
    sb = {b["inode"]: b for b in s["buffers"]}
    joined_fds = 0
    for tb in t["buffers"]:
        b = sb[tb["inode"]]
        assert (b["size"], b["exporter"], b["name"], b["count"]) == \
            (tb["size"], tb["exporter"], tb["name"], tb["count"])
        for pid, h in b["holders"].items():
            th = tb["holders"][pid]              # a joined holder is a real holder
            assert len(h["maps"]) == len(th["maps"])
            assert set(h["fds"]) <= set(th["fds"])
            joined_fds += len(h["fds"])
        assert sum(len(h["maps"]) for h in b["holders"].values()) == \
            sum(len(h["maps"]) for h in tb["holders"].values())
    ufds, umaps = unjoined(s)
    assert umaps == 0
    assert joined_fds + ufds == t["totals"]["dmabuf_fds"]
    assert s["totals"]["kernel_only"] == 0 and s["totals"]["unattributed"] > 0
    assert any("no inode in fdinfo" in p["message"] for p in s["problems"])


def test_a9_counts_every_reference_per_process_and_says_why():
    """4.9: no identity anywhere (bufinfo without inode, anon_inode:dmabuf links and maps).
    Every buffer is known (bufinfo) and every reference is counted under its process, but none
    is joined: no holder is invented and nothing is called kernel-only."""
    s, t = snapshot("a9-4.9"), truth("a9-4.9")
    check_totals(s, t, kernel_only_known=False)
    assert [b["size"] for b in s["buffers"]] == sorted((b["size"] for b in t["buffers"]), reverse=True)
    assert all(b["holders"] == {} and b["holders_known"] is False for b in s["buffers"])
    assert s["totals"]["unattributed"] == t["totals"]["bytes"] and s["totals"]["kernel_only"] == 0
    assert unjoined(s) == (t["totals"]["dmabuf_fds"], t["totals"]["dmabuf_maps"])
    sp = procs(s)
    for pid, tp in t["processes"].items():
        n = sp[pid]["reported"].get("unjoined_fds", 0) if pid in sp else 0
        assert n == tp["dmabuf_fds"], pid
    assert [p["source"] for p in s["problems"]] == ["identity"]


def test_memtrack_rfc_joins_through_memtrack_ids():
    """A 4.9 kernel carrying the memtrack RFC: memtrack ids give the identity bufinfo lacks, so
    holders, per-process figures and kernel-only buffers are exact again (fd numbers stay
    unknown: memtrack counts handles)."""
    s, t = snapshot("memtrack-rfc"), truth("memtrack-rfc")
    check_totals(s, t)
    check_processes(s, t)
    sb = {b["key"]: b for b in s["buffers"]}
    assert len(sb) == len(t["buffers"])
    for tb in t["buffers"]:
        b = sb[f"memtrack:{tb['memtrack_id']}"]
        assert (b["size"], b["exporter"]) == (tb["size"], tb["exporter"])
        assert (b["name"] or None) == (tb["name"] or None)
        assert {pid: len(h["maps"]) for pid, h in b["holders"].items()} == \
            {pid: len(h["maps"]) for pid, h in tb["holders"].items()}, tb["memtrack_id"]
        assert b["holders_known"] is True
    assert sorted(s["totals"]["kernel_only_buffers"]) == sorted(
        f"memtrack:{b['memtrack_id']}" for b in t["buffers"] if not b["holders"])
    # the smaps residency of memtrack's VMAs is the one the maps/smaps read gave
    in_rss = sum(m["rss"] for b in t["buffers"] for h in b["holders"].values() for m in h["maps"])
    assert sum(p["in_rss"] for p in s["processes"]) == in_rss
    assert s["problems"] == []


def test_a15_keeps_its_shell_user_permissions_however_droidtrack_runs(monkeypatch):
    """`droidtrack snapshot --root fixtures/a15-6.6` (the README's example) as root: the tree is
    read as the uid it says (2000) with its permissions.txt, so the figures are expected.json's,
    not a root's view of a tree that says "no root"."""
    from droidtrack.collect import collector
    from droidtrack.sources.localroot import LocalRootSource
    if os.geteuid() != 0:
        note = collector.shell_user_note(REPO / "fixtures" / "a15-6.6")
        assert note and "uid 2000" in note
        return
    snap = LocalRootSource(str(REPO / "fixtures" / "a15-6.6")).collect().snapshot
    got = schema.to_dict(snap, account(snap))
    want = json.loads((REPO / "fixtures" / "a15-6.6" / "expected.json").read_text())
    assert got["totals"] == want["totals"]
    assert [b["inode"] for b in got["buffers"]] == [b["inode"] for b in want["buffers"]]
    assert not any(p["source"] == "permissions" for p in got["problems"])
    # where the tree's user cannot be taken on, the snapshot says so
    monkeypatch.setattr(collector.os, "geteuid", lambda: 1000)
    note = collector.shell_user_note(REPO / "fixtures" / "a15-6.6")
    assert "uid 2000" in note and "uid 1000" in note
    assert collector.shell_user_note(REPO / "fixtures" / "a13-5.15") is None
