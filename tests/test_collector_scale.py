"""The collector's cost does not grow with the number of processes: the same number of spawned
processes (counted with strace -f: every pid the run created) for 10 and for 2,000 processes, at
most 15 for a normal tree, and every dma-buf fd and mapping of the big tree read."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from test_collector import v1_lines
from collector_support import SHELLS, base_dir, fdinfo_files, grep_lines, new_root, run_collector
from needs import needs
from droidtrack.sim.synth import DeviceTree, generate_large

pytestmark = needs("strace", "mksh-static", "toybox", "busybox")


@pytest.fixture(scope="module")
def small_tree():
    t = DeviceTree("a13-5.15", base=False)
    for i in range(10):
        t.add_process(100 + i, f"proc{i}", cmdline=(f"proc{i}",), uid=1000 + i)
        b = t.add_buffer(4096 * (i + 1), name=f"b{i}")
        t.hold_fd(100 + i, b)
        t.hold_map(100 + i, b)
    root = new_root("small")
    t.write(root)
    return root, t.truth()


@pytest.fixture(scope="module")
def large_tree():
    root = new_root("large")
    t = generate_large(root, processes=2000, buffers=3000, refs=9000, seed=7)
    return root, t.truth()


@pytest.fixture(params=list(SHELLS))
def shell(request):
    return request.param


def test_spawn_count_is_constant(shell, small_tree, large_tree):
    (sroot, struth), (lroot, ltruth) = small_tree, large_tree
    assert len(ltruth["processes"]) == 2000
    small = run_collector(sroot, shell, trace=True, writes=False)
    large = run_collector(lroot, shell, trace=True, writes=False, timeout=300)
    for run in (small, large):
        assert run.rc == 0 and run.fr.complete and not run.fr.problems
        assert all(s == "ok" for s in run.statuses().values()), run.statuses()
        assert run.leftovers == []
    assert small.procs == large.procs, (small.procs, large.procs)
    assert large.procs <= 15
    # everything was read: every dma-buf fd's fdinfo, every dma-buf mapping
    want = {f"{lroot}/proc/{pid}/fdinfo/{fd}" for b in ltruth["buffers"] for pid, h in b["holders"].items()
            for fd in h["fds"]}
    got = set(fdinfo_files(large))
    assert got == want
    nmaps = sum(len(h["maps"]) for b in ltruth["buffers"] for h in b["holders"].values())
    # (v2's maps section names the files; the mappings are the smaps groups' VMA lines)
    assert large.sec("smaps").content.count(b"/smaps:") == nmaps
    assert len({p for p, _ in grep_lines(v1_lines(large.sec("status"), lroot))}) == 2001   # + proc/self


def test_spawn_count_normal_phone_tree(shell):
    """A phone with every source (debugfs, dma-heaps, sysfs stats): at most 15 processes."""
    t = DeviceTree("a13-5.15", gpu="kgsl")
    t.add_process(500, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    b = t.add_buffer(8294400, name="gralloc")
    t.hold_fd(500, b)
    t.hold_map(500, b)
    t.gpu_usage(500, 1 << 20)
    root = new_root("normal")
    t.write(root)
    run = run_collector(root, shell, trace=True)
    assert run.rc == 0
    assert run.procs is not None and run.procs <= 15
    assert os.listdir(root) and run.leftovers == []


@pytest.fixture(scope="module")
def many_fds_tree():
    # 100,000 small files: in memory where there is a tmpfs (on a disk this takes half a minute)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="manyfds-", dir=shm or base_dir()))
    t = generate_large(d / "root", processes=600, buffers=20000, refs=60000, seed=11)
    yield d / "root", t.truth()
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("shell", ["mksh-static+toybox", "busybox"])
def test_head_list_in_several_xargs_runs(shell, many_fds_tree):
    """40,000 fdinfo paths take two head runs: every file is read, under its own name (busybox's
    xargs running its head applet inside itself lost bytes of the next run's paths)."""
    root, truth = many_fds_tree
    run = run_collector(root, shell, timeout=300)
    assert run.rc == 0 and run.fr.complete and not run.fr.problems
    assert all(s == "ok" for s in run.statuses().values()), run.statuses()
    want = {f"{root}/proc/{pid}/fdinfo/{fd}" for b in truth["buffers"] for pid, h in b["holders"].items()
            for fd in h["fds"]}
    assert len(want) > 36000
    files = fdinfo_files(run)
    assert set(files) == want
    for path in list(want)[::997]:
        assert files[path] == Path(path).read_bytes()
