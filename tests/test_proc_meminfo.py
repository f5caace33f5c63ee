"""/proc/meminfo's vendor dma-buf / GPU lines (parse/ion.py parse_proc_meminfo, ingest/ion.py):
parsed from hostile text, and through the collector into the reconciliation with their source."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.model.account import account
from droidtrack.parse import ion
from droidtrack.parse.grepout import split_grep
from droidtrack.parse.ion import KernelTotal
from droidtrack.sim.synth import DeviceTree
from droidtrack.sources.localroot import LocalRootSource

MEMINFO = ("MemTotal:        7698860 kB\nCmaTotal:          65536 kB\n"
           "IonTotalCache:     20480 kB\nIonTotalUsed:     153600 kB\nGPUTotalUsed:      40960 kB\n")


def _grep(text):
    return list(split_grep("".join(f"/proc/meminfo:{line}\n" for line in text.splitlines()), ""))


def test_vendor_lines_and_nothing_else():
    res = ion.parse_proc_meminfo(_grep(MEMINFO + "GpuTotal:          1024 kB\n"))
    assert res.records == [KernelTotal("meminfo_ion_cache", 20480 << 10), KernelTotal("meminfo_ion_used", 153600 << 10),
                           KernelTotal("meminfo_gpu_used", 40960 << 10), KernelTotal("meminfo_gpu_total", 1 << 20)]
    assert res.problems == []


def test_a_mainline_meminfo_gives_nothing():
    res = ion.parse_proc_meminfo(_grep("MemTotal: 100 kB\nCmaFree: 4 kB\nHugepagesize: 2048 kB\n"))
    assert res.records == [] and res.problems == []


def test_hostile_values_are_problems_not_numbers():
    res = ion.parse_proc_meminfo(_grep("IonTotalUsed: lots kB\nGpuTotal: 12 MB\nIonTotalUsed: 4 kB\n"
                                       "IonTotalUsed: 8 kB\nGPUTotalUsed:\n") + [("x",), None])
    assert res.records == [KernelTotal("meminfo_ion_used", 4096)]
    assert [p.line for p in res.problems if p.line] == [1, 2, 4, 5]
    assert any("given twice" in p.message for p in res.problems)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    ion.parse_proc_meminfo(_grep(text))


def _collect(tmp_path, extra: str):
    t = DeviceTree("a13-5.15")
    t.add_process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000, ppid=1)
    t.hold_fd(500, t.add_buffer(1 << 20, "system", "gralloc"))
    root = tmp_path / "root"
    t.write(root)
    with open(root / "proc" / "meminfo", "a") as f:
        f.write(extra)
    return LocalRootSource(str(root)).collect().snapshot


def test_through_the_collector_into_the_reconciliation(tmp_path):
    snap = _collect(tmp_path, "IonTotalUsed:      2048 kB\nGPUTotalUsed:       512 kB\n")
    assert snap.reported["proc_meminfo.ion_used"] == 2 << 20
    assert snap.reported["proc_meminfo.gpu_used"] == 512 << 10
    assert snap.sources["proc_meminfo"].status == "ok"
    lines = {r.label: r for r in account(snap).reconciliation}
    r = lines["proc_meminfo.ion_used"]
    assert (r.bytes, r.source) == (2 << 20, "proc_meminfo.ion_used") and "/proc/meminfo 'IonTotalUsed'" in r.note


def test_a_kernel_without_such_lines_has_no_source(tmp_path):
    snap = _collect(tmp_path, "")
    assert "proc_meminfo" not in snap.sources and not any(k.startswith("proc_meminfo.") for k in snap.reported)
