"""GPU parsers: the Realtek Mali sample, Mali variants from their printf formats, KGSL files
through grepout.split_grep, dumpsys gpu --gpumem."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import gpu
from droidtrack.parse.gpu import GpuProcMemory, GpuTotal
from droidtrack.parse.grepout import split_grep
from parsed import DATA, of

PAGE = 4096


def test_realtek_mali_sample():
    # source: tests/data/mali_gpu_memory_realtek_comment.txt ("pages tgid" vendor variant,
    # pasted inside a C++ comment: the comment lines are reported, the data read)
    res = gpu.parse_mali((DATA / "mali_gpu_memory_realtek_comment.txt").read_text())
    assert of(res, GpuTotal) == [GpuTotal("mali", 45605 * PAGE, "device", "mali0")]
    procs = of(res, GpuProcMemory)
    assert [(r.pid, r.bytes // PAGE) for r in procs] == [
        (15898, 14102), (15833, 42), (9134, 3316), (8344, 20929), (6235, 135), (4962, 7081)]
    assert procs[0].ctx == "fa847000" and all(r.kind == "kctx" for r in procs)
    # the contexts add up to the device line: 14102+42+3316+20929+135+7081 = 45605 pages
    assert sum(r.bytes for r in procs) == 45605 * PAGE
    # "# source", "// Realtek example", "// First column...", "/* root@... cat", "*/"
    assert [p.line for p in res.problems] == [1, 2, 3, 4, 12]


def test_mainline_mali_has_no_pid():
    text = "%-16s  %10u\n" % ("mali0", 300) + "  %s-0x%s %10u\n" % ("kctx", "0000000000000000", 100)
    text += "  %s-0x%s %10u\n" % ("kctx", "ffffffc012345678", 200)
    res = gpu.parse_mali(text)
    assert res.problems == []
    assert [(r.pid, r.bytes) for r in of(res, GpuProcMemory)] == [(None, 100 * PAGE),
                                                                   (None, 200 * PAGE)]


def test_samsung_mali_variant_and_three_column_variant():
    text = ("mali0                   5000\n"
            "  kctx-0xffffff8001234000 pid:1200 tgid:1188 comm:Render Thread all: 4000 OOM see:0\n"
            "    region  pages\n    native memory overall:      12 (pages)\n"
            "  kctx-0xffffff8001235000      100       42       900\n")
    res = gpu.parse_mali(text)
    procs = of(res, GpuProcMemory)
    assert procs[0] == GpuProcMemory(1188, "mali", "kctx", 4000 * PAGE, ctx="ffffff8001234000",
                                     comm="Render Thread")
    assert (procs[1].pid, procs[1].bytes) == (None, 100 * PAGE)
    assert [p.line for p in res.problems] == [5]


KGSL_GREP = """\
/sys/class/kgsl/kgsl/proc/1234/kernel:4096
/sys/class/kgsl/kgsl/proc/1234/user:0
/sys/class/kgsl/kgsl/proc/1234/imported_mem:8294400
/sys/class/kgsl/kgsl/proc/1234/gpumem_mapped:65536
/sys/class/kgsl/kgsl/proc/1234/gpumem_unmapped:Input/output error
/sys/class/kgsl/kgsl/proc/1234/memtype/egl_surface:8294400
/sys/class/kgsl/kgsl/proc/77/memtype/any(0):12
/sys/class/kgsl/kgsl/page_alloc:123456789
/sys/kernel/debug/kgsl/proc/1234/mem:something
"""


def test_kgsl_through_split_grep():
    res = gpu.parse_kgsl(split_grep(KGSL_GREP, ""))
    assert of(res, GpuProcMemory) == [
        GpuProcMemory(1234, "kgsl", "kernel", 4096),
        GpuProcMemory(1234, "kgsl", "user", 0),
        GpuProcMemory(1234, "kgsl", "imported_mem", 8294400),
        GpuProcMemory(1234, "kgsl", "gpumem_mapped", 65536),
        GpuProcMemory(1234, "kgsl", "memtype/egl_surface", 8294400)]
    assert of(res, GpuTotal) == [GpuTotal("kgsl", 123456789, "page_alloc")]
    # gpumem_unmapped errored (-EIO), "any(0)" is not a plain file name here, debugfs not read
    assert [p.line for p in res.problems] == [5, 7, 9]
    assert res.problems[0].path == "/sys/class/kgsl/kgsl/proc/1234/gpumem_unmapped"


def test_kgsl_accepts_plain_tuples_and_garbage():
    res = gpu.parse_kgsl([(1, "/sys/class/kgsl/kgsl/proc/5/user", "10"), None, (2,)])
    assert of(res, GpuProcMemory) == [GpuProcMemory(5, "kgsl", "user", 10)]
    assert len(res.problems) == 2


def test_dumpsys_gpu_gpumem():
    text = ("GpuStats:\n  driver stuff 1\n"
            "Memory snapshot for GPU 0:\n"
            "Global total: 268435456\n"
            "Proc 1234 total: 1048576\n"
            "Proc 5678 total: 2097152, imported: 4096\n"
            "garbage here\n")
    res = gpu.parse_dumpsys_gpu(text)
    assert of(res, GpuTotal) == [GpuTotal("gpu_mem", 268435456, "global", gpu=0)]
    assert of(res, GpuProcMemory) == [
        GpuProcMemory(1234, "gpu_mem", "total", 1048576, gpu=0),
        GpuProcMemory(5678, "gpu_mem", "total", 2097152, gpu=0),
        GpuProcMemory(5678, "gpu_mem", "imported", 4096, gpu=0)]
    assert [p.line for p in res.problems] == [7]
    res = gpu.parse_dumpsys_gpu("GPU memory usage maps are empty\n")
    assert res.records == [] and "empty" in res.problems[0].message
    res = gpu.parse_dumpsys_gpu("Memory snapshot for GPU 1:\nGlobal total: N/A\n")
    assert res.records == [] and res.problems[0].line == 2


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    gpu.parse_mali(text)
    gpu.parse_dumpsys_gpu(text)
    gpu.parse_kgsl(split_grep(text, ""))
    gpu.parse_kgsl([(1, text, text), text, (text,)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 4194304)), max_size=8))
def test_round_trip_vendor_mali(ctxs):
    text = "%-16s  %10u\n" % ("mali0", sum(p for p, _ in ctxs))
    for i, (pages, tgid) in enumerate(ctxs):
        text += "  kctx-0x%08x %10u %10u\n" % (i, pages, tgid)
    res = gpu.parse_mali(text)
    assert res.problems == []
    assert [(r.bytes // PAGE, r.pid) for r in of(res, GpuProcMemory)] == ctxs
