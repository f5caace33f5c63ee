"""dma_heap.mem_accounting and the memory cgroups' kernel memory (Linux 7.0+): the parser on
hostile text, and the collector under real shells and applets against roots holding the files,
through the host's decoding to the reconciliation."""
from __future__ import annotations

import pytest

from needs import needs
from collector_support import SHELLS, new_root, run_collector
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.model.account import account
from droidtrack.parse import memcg

R = "/r"
P = R + memcg.PARAM
C = R + memcg.CGROUP


def recs(text, root=R):
    res = memcg.parse(text, root)
    return [(r.kind, r.cgroup, r.value) for r in res.records], res.problems


def test_reads_parameter_root_and_top_level():
    got, probs = recs(f"{P}:Y\n{C}memory.stat:kernel 4096\n{C}system.slice/memory.stat:kernel 8192\n")
    assert got == [("accounting", None, 1), ("kernel", "", 4096), ("kernel", "system.slice", 8192)]
    assert probs == []
    assert recs(f"{P}:N\n")[0] == [("accounting", None, 0)]


@pytest.mark.parametrize("line", [
    f"{P}:maybe",                                   # neither Y nor N
    f"{C}memory.stat:kernel -5",                    # a sign
    f"{C}memory.stat:kernel 12k",
    f"{C}memory.stat:kernel ٣",                     # a non-ASCII digit
    f"{C}memory.stat:kernel_stack 4096",            # another key
    f"{C}memory.stat:kernel",                       # cut short
    f"{C}a/b/memory.stat:kernel 5",                 # a nested cgroup: not one the collector reads
    f"{C}/memory.stat:kernel 5",                    # an empty name
    "/other/sys/fs/cgroup/memory.stat:kernel 5",    # another root
    "garbage \x00\t=cmd|' /C calc'!A0",
    f"{C}x" * 200,                                  # longer than any line read
])
def test_hostile_lines_are_skipped_and_said(line):
    got, probs = recs(line + "\n")
    assert got == [] and len(probs) == 1


def test_a_name_with_a_newline_cannot_pass_for_another_cgroup():
    # cgroup "evil\n/r/sys/fs/cgroup/app" is impossible ('/' in a name), so the forged tail of a
    # split line never starts with the cgroup directory: both halves are skipped
    got, probs = recs(f"{C}evil\nkernel 1/memory.stat:kernel 99\n")
    assert got == [] and len(probs) == 2


def test_repeats_keep_the_first_and_say_so():
    got, probs = recs(f"{P}:Y\n{P}:N\n{C}a/memory.stat:kernel 1\n{C}a/memory.stat:kernel 2\n")
    assert got == [("accounting", None, 1), ("kernel", "a", 1)] and len(probs) == 2


def test_empty_root_and_empty_text():
    assert recs(f"{memcg.PARAM}:Y\n", root="")[0] == [("accounting", None, 1)]
    assert recs("") == ([], [])


TOYBOX = ("mksh+toybox", "dash+toybox")


def _root(param: str | None, stats: dict[str, int], root_stat: int | None, sys_buffers=()):
    root = new_root("memcg")
    (root / "proc").mkdir(parents=True)
    if param is not None:
        d = root / "sys/module/dma_heap/parameters"
        d.mkdir(parents=True)
        (d / "mem_accounting").write_text(param + "\n")
    cg = root / "sys/fs/cgroup"
    cg.mkdir(parents=True)
    body = "anon 0\nfile 0\nkernel {}\nkernel_stack 16384\nsock 0\n"
    if root_stat is not None:
        (cg / "memory.stat").write_text(body.format(root_stat))
    for name, v in stats.items():
        (cg / name).mkdir()
        (cg / name / "memory.stat").write_text(body.format(v))
    for ino, size in sys_buffers:
        b = root / "sys/kernel/dmabuf/buffers" / str(ino)
        b.mkdir(parents=True)
        (b / "size").write_text(f"{size}\n")
        (b / "exporter_name").write_text("system\n")
    return root


def _snap(root, shell):
    run = run_collector(root, shell)
    assert run.rc == 0, run.stderr
    return run, snapshot_from_frames(run.fr, time=0.0)


@needs("mksh", "dash", "toybox")
@pytest.mark.parametrize("shell", TOYBOX)
def test_collector_root_cgroup_bound(shell):
    assert shell in SHELLS
    root = _root("Y", {"system.slice": 40960, "weird name:x": 8192}, 1 << 20, [(11, 524288), (12, 4096)])
    run, snap = _snap(root, shell)
    assert run.sec("memcg").status == "ok"
    assert snap.reported["memcg.kernel"] == 1 << 20 and "memcg.kernel_top" not in snap.reported
    assert "mem_accounting=Y" in snap.sources["memcg"].detail
    line = next(r for r in account(snap).reconciliation if r.label == "memcg.kernel")
    assert "upper bound" in line.note and "system-heap buffers: 516.0 KiB" in line.note and "more than" not in line.note
    assert not [p for p in snap.problems if p.source == "memcg"]
    # the system heap holding more than the root cgroup's kernel memory: said, but no problem (what
    # processes in the root cgroup allocate is charged to no cgroup)
    root = _root("Y", {}, 4096, [(11, 524288)])
    _, snap = _snap(root, shell)
    line = next(r for r in account(snap).reconciliation if r.label == "memcg.kernel")
    assert "more than the bound: those allocated from the root cgroup" in line.note
    assert not [p for p in snap.problems if p.source == "memcg"]


@needs("mksh", "dash", "toybox")
@pytest.mark.parametrize("shell", TOYBOX)
def test_collector_top_level_only_and_off(shell):
    root = _root("Y", {"a": 1000, "b": 24}, None, [(11, 524288)])
    run, snap = _snap(root, shell)
    assert run.sec("memcg").status == "ok"
    assert snap.reported["memcg.kernel_top"] == 1024 and "memcg.kernel" not in snap.reported
    assert "2 top-level cgroups" in snap.sources["memcg"].detail
    assert not [p for p in snap.problems if p.source == "memcg"]
    line = next(r for r in account(snap).reconciliation if r.label == "memcg.kernel_top")
    assert "more than the bound" in line.note
    # N: the cgroups are not read, nothing is reported
    run, snap = _snap(_root("N", {"a": 1000}, 5, [(11, 524288)]), shell)
    assert b"memory.stat" not in run.sec("memcg").content
    assert not [k for k in snap.reported if k.startswith("memcg")]
    assert "mem_accounting=N" in snap.sources["memcg"].detail
    # no parameter (kernels before 7.0): no section at all
    run, snap = _snap(_root(None, {"a": 1000}, 5), shell)
    assert "memcg" not in run.fr.sections and "memcg" not in snap.sources
