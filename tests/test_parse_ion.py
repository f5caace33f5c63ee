"""ION parsers: the msm8998 heap sample (QCOM orphan columns), the staging printf formats with
blank and spaced client names, client files, sysfs totals."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import ion
from droidtrack.parse.grepout import split_grep
from droidtrack.parse.ion import (IonClientUsage, IonHeapTotal, IonOrphan, IonPool,
                                  KernelTotal)
from parsed import DATA, of

DASH = "-" * 52 + "\n"


def test_msm8998_system_heap_sample():
    # source: tests/data/ion_heaps_system_msm8998_allocator_blog.txt (console prompts kept)
    res = ion.parse_heap((DATA / "ion_heaps_system_msm8998_allocator_blog.txt").read_text(),
                         "system")
    orphans = of(res, IonOrphan)
    assert len(orphans) == 7
    assert orphans[0] == IonOrphan("system", "allocator@2.0-s", 257, 7372800,
                                   "composer@2.1-se", 258, 0, 1)
    assert [o.bytes for o in orphans] == [7372800, 139264, 139264, 3686400, 3686400, 3686400,
                                          139264]
    # 7372800 + 3*139264 + 3*3686400 = 18849792 = "total orphaned" = "total"
    assert sum(o.bytes for o in orphans) == 18849792
    assert of(res, IonHeapTotal) == [IonHeapTotal("system", 18849792, 18849792, 0)]
    assert of(res, IonClientUsage) == []
    pools = of(res, IonPool)
    assert len(pools) == 12
    # "4 order 8 highmem pages in uncached pool = 4194304 total": 4 * 2^8 * 4096
    assert pools[0] == IonPool("system", 4, 8, 4194304, False, "highmem")
    assert pools[5] == IonPool("system", 838, 0, 3432448, False, "lowmem")
    assert sum(p.bytes for p in pools if not p.cached) == 4194304 + 2097152 + 917504 + 3432448
    # the "# source" note, two "ls" prompts with their listings and the "cat" prompt
    assert [p.line for p in res.problems] == [1, 2, 3, 4, 5, 6]


def staging_heap():
    out = "%16s %16s %16s\n" % ("client", "pid", "size") + DASH
    out += "%16s %16u %16u\n" % ("surfaceflinger", 612, 8294400)
    out += "%16s %16u %16u\n" % ("Built-in Keyboa", 2001, 4096)
    out += "%16s %16u %16u\n" % ("Thread 2", 3000, 65536)
    out += "%16.s %16u %16u\n" % ("lost name", 3001, 8192)   # the old "%16.s" bug: blank
    out += "%16s %16u %16u\n" % ("fd900000.qcom,mdss_mdp", 0, 1048576)
    out += DASH + "orphaned allocations (info is from last known client):\n"
    out += "%16s %16u %16u %d %d\n" % ("mediaserver", 400, 12288, 0, 1)
    out += DASH
    out += "%16s %16u\n" % ("total orphaned", 12288)
    out += "%16s %16u\n" % ("total ", 9433088)
    out += "%16s %16u\n" % ("deferred free", 0)
    out += DASH
    return out


def test_staging_heap_from_printf_formats():
    res = ion.parse_heap(staging_heap(), "system")
    assert res.problems == []
    assert of(res, IonClientUsage) == [
        IonClientUsage("system", "surfaceflinger", 612, 8294400),
        IonClientUsage("system", "Built-in Keyboa", 2001, 4096),
        IonClientUsage("system", "Thread 2", 3000, 65536),
        IonClientUsage("system", "", 3001, 8192),
        IonClientUsage("system", "fd900000.qcom,mdss_mdp", 0, 1048576)]
    assert of(res, IonOrphan) == [IonOrphan("system", "mediaserver", 400, 12288, kmap_cnt=0,
                                            refcount=1)]
    assert of(res, IonHeapTotal) == [IonHeapTotal("system", 9433088, 12288, 0)]


def test_truncated_orphans_are_flagged():
    text = staging_heap().replace("%16s %16u %16u %d %d\n" % ("mediaserver", 400, 12288, 0, 1),
                                  "%16s %16u %16u %d %d\n" % ("mediaserver", 400, 4096, 0, 1))
    res = ion.parse_heap(text, "system")
    assert len(res.problems) == 1 and "total orphaned" in res.problems[0].message


def test_client_file():
    text = "%16.16s: %16.16s\n" % ("heap_name", "size_in_bytes")
    text += "%16.16s: %16u\n" % ("system", 8294400) + "%16.16s: %16u\n" % ("qsecom", 4096)
    res = ion.parse_client(text, "10034-0")
    assert res.problems == []
    assert res.records == [IonClientUsage("system", "10034-0", 10034, 8294400),
                           IonClientUsage("qsecom", "10034-0", 10034, 4096)]
    res = ion.parse_client("system: 5\nnonsense\n", "mdss_fb0-1")
    assert res.records == [IonClientUsage("system", "mdss_fb0-1", None, 5)]
    assert [p.line for p in res.problems] == [2]


def test_sysfs_totals_from_grep_and_text():
    grep = ("/sys/kernel/ion/total_heaps_kb:123456\n/sys/kernel/ion/total_pools_kb:2048\n"
            "/sys/kernel/dma_heap/total_pools_kb:0\n/sys/kernel/dma_heap/other:1\n"
            "/sys/kernel/ion/total_pools_kb:Permission denied\n")
    for arg in (list(split_grep(grep, "")), grep):
        res = ion.parse_totals(arg)
        assert res.records == [KernelTotal("ion_total_heaps", 123456 * 1024),
                               KernelTotal("ion_total_pools", 2048 * 1024),
                               KernelTotal("dma_heap_total_pools", 0)]
        assert [p.line for p in res.problems] == [4, 5]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(max_size=20))
def test_arbitrary_text_never_raises(text, name):
    ion.parse_heap(text, name)
    ion.parse_client(text, name)
    ion.parse_totals(text)
    ion.parse_totals([(1, text, text), None, text])


comm = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
               max_size=15)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(comm, min_size=1, max_size=3).map(" ".join),
                          st.integers(0, 4194304), st.integers(0, 2**40)), max_size=6))
def test_round_trip_clients(rows):
    text = "%16s %16s %16s\n" % ("client", "pid", "size") + DASH
    text += "".join("%16s %16u %16u\n" % r for r in rows)
    res = ion.parse_heap(text, "h")
    assert [(c.client, c.pid, c.bytes) for c in of(res, IonClientUsage)] == [
        (c.strip(), p, s) for c, p, s in rows]


def test_huge_garbage_line_is_skipped():
    res = ion.parse_heap(" client pid user user_pid size mcnt rcnt\n" + "1 " * 100_000 + "\n", "h")
    assert res.records == [] and "longer than" in res.problems[0].message
