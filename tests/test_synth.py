"""droidtrack.sim.synth: the device-root builder used by tests, fixtures, the benchmark and the demo."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from droidtrack.sim.synth import ANON_INODE, GENERATIONS, DeviceTree, apply_permissions, generate_large

REPO = Path(__file__).resolve().parent.parent


def tree(gen: str, **kw) -> DeviceTree:
    t = DeviceTree(gen, **kw)
    t.add_process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(600, "com.example.cam", ("com.example.cam",), uid=10100)
    a = t.add_buffer(8294400, name="gralloc", allocator=500)
    b = t.add_buffer(4096)
    t.add_buffer(65536, name="kgsl", kernel_refs=1)
    t.hold_fd(500, a); t.hold_fd(600, a); t.hold_fd(600, a)
    t.hold_map(600, a, offset=4096, length=8192, rss=4096)
    t.hold_map(500, b)
    return t


def test_api_rejects_bad_input():
    t = DeviceTree("a13-5.15")
    with pytest.raises(ValueError):
        DeviceTree("a12-nope")
    t.add_process(10, "x")
    with pytest.raises(ValueError):
        t.add_process(10, "again")
    t.add_process(1, "my-init")               # base processes may be replaced
    b = t.add_buffer(4096, inode=77)
    with pytest.raises(ValueError):
        t.add_buffer(4096, inode=77)
    with pytest.raises(ValueError):
        t.add_buffer(0)
    with pytest.raises(ValueError):
        t.hold_fd(2, b)                       # a kernel thread
    with pytest.raises(ValueError):
        t.hold_fd(999, b)
    fd = t.hold_fd(10, b)
    with pytest.raises(ValueError):
        t.hold_fd(10, b, fd=fd)
    with pytest.raises(ValueError):
        t.hold_map(10, b, offset=4096)        # outside the buffer
    with pytest.raises(ValueError):
        t.hold_map(10, b, rss=8192)
    with pytest.raises(ValueError):
        t.deny(10, "everything")
    assert t.hold_fd(10, b, fd=100) == 100
    assert t.hold_fd(10, b) == fd + 1         # auto numbering skips used fds


@pytest.mark.parametrize("gen", GENERATIONS)
def test_written_files_match_truth(gen, tmp_path):
    t = tree(gen)
    t.write(tmp_path)
    tr = t.truth()
    json.dumps(tr)                            # JSON-able
    by_name = {b["name"]: b for b in tr["buffers"]}
    g = by_name["gralloc"]
    assert g["count"] == 3 + 1                # 3 fds + 1 mapping
    assert by_name["kgsl"]["count"] == 1 and by_name["kgsl"]["holders"] == {}
    assert g["holders"]["600"]["maps"][0]["length"] == 8192
    assert g["holders"]["600"]["maps"][0]["offset"] == 4096
    assert tr["processes"]["600"]["dmabuf_rss"] == 8294400
    assert tr["processes"]["600"]["dmabuf_pss"] == 8294400 // 2
    assert tr["processes"]["2"]["kernel_thread"] and tr["processes"]["2"]["fds"] == 0
    assert tr["totals"]["kernel_only_bytes"] == 65536
    proc = tmp_path / "proc"
    fd = g["holders"]["600"]["fds"][0]
    link = os.readlink(proc / "600" / "fd" / str(fd))
    fdinfo = (proc / "600" / "fdinfo" / str(fd)).read_text()
    maps = (proc / "600" / "maps").read_text()
    dm = [l for l in maps.splitlines() if "dmabuf" in l]
    assert len(dm) == 1
    if t.g["links"] == "anon":
        assert link == "anon_inode:dmabuf"
        assert dm[0].split()[4] == str(ANON_INODE) and dm[0].endswith(" anon_inode:dmabuf")
        assert "size:" not in fdinfo
    else:
        assert link == "/dmabuf:gralloc"
        assert dm[0].split()[4] == str(g["inode"]) and dm[0].endswith(" /dmabuf:gralloc")
        assert "size:\t8294400\ncount:\t4\n" in fdinfo and "name:\tgralloc\n" in fdinfo
        assert ("ino:\t%d\n" % g["inode"] in fdinfo) == (gen != "a11-5.4")
    # maps: the path starts at column 73, offsets in hex
    assert re.match(r"[0-9a-f]+-[0-9a-f]+ rw-s 00001000 ", dm[0]) and dm[0].index(dm[0].split()[-1]) == 73
    smaps = (proc / "600" / "smaps").read_text()
    assert "Rss:                   4 kB" in smaps
    bi = tmp_path / "sys/kernel/debug/dma_buf/bufinfo"
    if not t.g["debugfs"]:
        assert not bi.exists()
    else:
        text = bi.read_text()
        assert text.startswith("\nDma-buf Objects:\n")
        assert text.endswith("\nTotal 3 objects, %d bytes\n" % (8294400 + 4096 + 65536))
        rows = [l for l in text.splitlines() if l[:1].isdigit()]
        assert rows[0].startswith("00065536\t")          # newest first
        assert "\t00000004\t" in rows[2]                  # count of gralloc, %08ld
        if t.g["bufinfo"] == "4.9":
            assert rows[1].count("\t") == 4
        elif t.g["bufinfo"] == "5.3":
            assert rows[1].endswith("\t")                 # unnamed: trailing tab
    sysfs = tmp_path / "sys/kernel/dmabuf/buffers"
    assert sysfs.exists() == t.g["sysfs_stats"]
    if sysfs.exists():
        assert (sysfs / str(g["inode"]) / "size").read_text() == "8294400\n"
    assert (tmp_path / "dev/dma_heap/system").exists() == t.g["dma_heap"]
    it = tmp_path / "sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf"
    assert it.exists() == t.g["bpf_iter"]
    if it.exists():
        lines = it.read_text().split("\n")
        assert lines[-1] == "" and len(lines) == 4 * 3 + 1
        assert lines[4 * 2:4 * 3] == [str(g["inode"]), "8294400", "gralloc", "system"]    # oldest last
    if t.g["dmabuf_rss"]:
        assert (proc / "600" / "dmabuf_rss").read_text() == "8294400\n"
        assert (proc / "600" / "dmabuf_pss").read_text() == "%d\n" % (8294400 // 2)
    if gen == "memtrack-rfc":
        mt = (proc / "600" / "memtrack").read_text()
        assert mt.splitlines()[0].endswith("pid:600")
        assert (proc / "2" / "memtrack").read_text() == ""   # no buffer, no header
    if gen in ("a9-4.9", "memtrack-rfc"):
        heap = (tmp_path / "sys/kernel/debug/ion/heaps/system").read_text()
        assert re.search(r"surfaceflinger +500 +8294400\n", heap)
    status = (proc / "500" / "status").read_text()
    assert "Name:\tsurfaceflinger\nUmask" in status and "Uid:\t1000\t1000\t1000\t1000\n" in status
    assert (proc / "600" / "cmdline").read_bytes() == b"com.example.cam\0"
    assert (tmp_path / "system/build.prop").read_text().count("ro.build.version.sdk=") == 1


def test_kernel_escaping_of_names(tmp_path):
    t = DeviceTree("a13-5.15")
    t.add_process(50, "a\nb\\c", ("x",))
    b = t.add_buffer(4096, name="n\nl")
    t.hold_map(50, b)
    t.write(tmp_path)
    assert "Name:\ta\\nb\\\\c\n" in (tmp_path / "proc/50/status").read_text()
    assert "/dmabuf:n\\012l" in (tmp_path / "proc/50/maps").read_text()
    raw = DeviceTree("a13-5.15", escape_names=False)
    raw.add_process(50, "a\nb", ("x",))
    raw.write(tmp_path / "raw")
    assert "Name:\ta\nb\n" in (tmp_path / "raw/proc/50/status").read_text()


def test_permissions_roundtrip(tmp_path):
    t = tree("a15-6.6", shell_uid=2000)
    t.deny(600, "fd")
    t.deny_path("sys/kernel/dmabuf/buffers")
    t.write(tmp_path)
    lines = (tmp_path / "permissions.txt").read_text().splitlines()
    assert "0700 proc/600/fd" in lines and "0600 proc/600/maps" in lines
    assert "0700 sys/kernel/dmabuf/buffers" in lines
    changed = apply_permissions(tmp_path)
    assert set(changed) == {"proc/600/fd", "proc/600/fdinfo", "proc/600/maps", "proc/600/smaps",
                            "sys/kernel/dmabuf/buffers"}
    assert (tmp_path / "proc/600/fd").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "proc/600/maps").stat().st_mode & 0o777 == 0o600
    assert t.truth()["processes"]["600"]["denied"] == ["fd", "fdinfo", "maps", "smaps"]
    assert "u:r:shell:s0" in (tmp_path / "proc/self/attr/current").read_text()


def test_gpu_and_dumpsys_files(tmp_path):
    t = tree("a9-4.9", gpu="mali")
    t.gpu_usage(600, 1 << 20)
    t.set_dumpsys("meminfo", "Total RAM: 1K\n")
    t.write(tmp_path / "m")
    mali = (tmp_path / "m/sys/kernel/debug/mali0/gpu_memory").read_text().splitlines()
    assert mali[0].split() == ["mali0", "256"] and mali[1].split()[1:] == ["256", "600"]
    assert (tmp_path / "m/dumpsys/meminfo.txt").read_text() == "Total RAM: 1K\n"
    k = tree("a13-5.15", gpu="kgsl")
    k.gpu_usage(600, 1 << 20, imported=4096)
    k.write(tmp_path / "k")
    assert (tmp_path / "k/sys/class/kgsl/kgsl/proc/600/imported_mem").read_text() == "4096\n"


def test_generate_large_is_deterministic_and_fast(tmp_path):
    t0 = time.perf_counter()
    a = generate_large(tmp_path / "a", processes=300, buffers=2000, refs=6000, seed=3)
    took = time.perf_counter() - t0
    b = generate_large(tmp_path / "b", processes=300, buffers=2000, refs=6000, seed=3)
    ta, tb = a.truth(), b.truth()
    assert ta == tb
    assert ta["totals"]["processes"] == 300 and ta["totals"]["buffers"] == 2000
    assert ta["totals"]["dmabuf_fds"] + ta["totals"]["dmabuf_maps"] == 6000
    assert took < 30
    assert (tmp_path / "a/proc/self/status").exists()
    c = generate_large(tmp_path / "c", processes=300, buffers=2000, refs=6000, seed=4)
    assert c.truth() != ta


def test_committed_fixtures_are_what_make_fixtures_writes(tmp_path):
    """fixtures/<generation>/ are regenerated byte for byte by fixtures/make_fixtures.py."""
    subprocess.run([sys.executable, str(REPO / "fixtures/make_fixtures.py"), str(tmp_path)], check=True,
                   capture_output=True)
    for gen in GENERATIONS:
        fresh, committed = tmp_path / gen, REPO / "fixtures" / gen
        names = set()
        for d, dirs, files in os.walk(fresh):
            for n in dirs + files:
                rel = os.path.relpath(os.path.join(d, n), fresh)
                names.add(rel)
                p, q = fresh / rel, committed / rel
                if p.is_symlink():
                    assert os.readlink(p) == os.readlink(q), rel
                elif p.is_file():
                    assert p.read_bytes() == q.read_bytes(), rel
        have = {os.path.relpath(os.path.join(d, n), committed) for d, dirs, files in os.walk(committed)
                for n in dirs + files} - {"expected.json"}   # droidtrack's output, not the tree
        assert have == names, gen


def test_a_new_generation_is_one_table_row(tmp_path, monkeypatch):
    # a 7.x-shaped kernel: no debugfs, no sysfs stats; everything else as 6.6
    from dataclasses import replace

    from droidtrack.sim.generations import TABLE
    monkeypatch.setitem(TABLE, "x7", replace(TABLE["a15-6.6"], name="x7", kernel="7.0.0-x", sysfs_stats=False))
    t = DeviceTree("x7")
    t.add_process(500, "app", ("app",), uid=10000)
    t.hold_fd(500, t.add_buffer(8192, name="n"))
    t.write(tmp_path)
    assert (tmp_path / "proc/sys/kernel/osrelease").read_text() == "7.0.0-x\n"
    assert not (tmp_path / "sys/kernel/dmabuf").exists()
    assert not (tmp_path / "sys/kernel/debug").exists()
    assert (tmp_path / "proc/500/dmabuf_rss").read_text() == "8192\n"
    assert (tmp_path / "dev/dma_heap/system").exists()
    with pytest.raises(ValueError, match="unknown generation"):
        DeviceTree("x8")
