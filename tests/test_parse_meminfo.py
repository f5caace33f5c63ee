"""dumpsys meminfo parser: both real excerpts, constructed A10+ / A4.4 layouts, system dump."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import meminfo
from droidtrack.parse.meminfo import AppMemtrack, CategoryTotal, ProcessMem, SystemLine
from parsed import DATA, of

K = 1024


def test_android8_app_excerpt():
    # source: tests/data/dumpsys_meminfo_pkg_egl_gl_mtrack_android8.txt (cut mid-header, so the
    # column order is assumed and the parser says so)
    res = meminfo.parse((DATA / "dumpsys_meminfo_pkg_egl_gl_mtrack_android8.txt").read_text())
    [app] = of(res, AppMemtrack)
    # rows as printed (KB): Gfx dev 14784 Pss / 14712 Private Dirty; EGL mtrack 98460/98460;
    # GL mtrack 82284/82284; App Summary Graphics 195528 = 14784+98460+82284; Private Other 21188
    assert app == AppMemtrack(None, None, gfx_dev=14784 * K, egl_mtrack=98460 * K,
                              gl_mtrack=82284 * K, other_mtrack=None,
                              graphics_summary=195528 * K, private_other=21188 * K,
                              private_dirty={"gfx_dev": 14712 * K, "egl_mtrack": 98460 * K,
                                             "gl_mtrack": 82284 * K})
    assert app.graphics_summary == app.gfx_dev + app.egl_mtrack + app.gl_mtrack
    [p] = res.problems
    assert p.line == 3 and "assumed" in p.message


def test_crossbench_system_tail():
    # source: tests/data/dumpsys_meminfo_system_tail_dmabuf_crossbench.txt; "Free RAM" values
    # are placeholders in the fixture and are parsed as printed
    res = meminfo.parse((DATA / "dumpsys_meminfo_system_tail_dmabuf_crossbench.txt").read_text())
    assert of(res, CategoryTotal) == [CategoryTotal("GL mtrack", "pss", 0),
                                      CategoryTotal("Other mtrack", "pss", 0)]
    lines = {r.key: r for r in of(res, SystemLine)}
    assert lines["dmabuf"] == SystemLine("dmabuf", 817715 * K,
                                         {"mapped": 152 * K, "unmapped": 817563 * K})
    assert lines["dmabuf"].parts["mapped"] + lines["dmabuf"].parts["unmapped"] == lines["dmabuf"].total
    assert lines["dmabuf_heaps"] == SystemLine("dmabuf_heaps", 24844 * K, {})
    assert lines["dmabuf_heaps_pool"] == SystemLine("dmabuf_heaps_pool", 0, {})
    assert lines["gpu"] == SystemLine("gpu", 258796 * K, {"dmabuf": 258796 * K, "private": 0})
    assert lines["kernel_cma"].total == 0
    assert lines["total_ram"].total == 7698860 * K
    assert lines["free_ram"].parts == {"cached_pss": 2345 * K, "cached_kernel": 3456 * K,
                                       "free": 4567 * K}
    assert lines["used_ram"] == SystemLine("used_ram", 3528301 * K,
                                           {"used_pss": 1772358 * K, "kernel": 1755943 * K})
    assert lines["lost_ram"].total == 362207 * K
    assert lines["zram"] == SystemLine("zram", 557480 * K, {"in_swap": 1723064 * K,
                                                            "total_swap": 11284 * K})
    # the excerpt starts mid-list without the "Total PSS by category:" header: said once
    assert [p.line for p in res.problems] == [2]


A10_APP = """\
Applications Memory Usage (in Kilobytes):
Uptime: 123 Realtime: 456

** MEMINFO in pid 4321 [com.example.game] **
                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap
                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free
                ------   ------   ------   ------   ------   ------   ------   ------
  Native Heap    95253    95176        0      198    96000   110080   102036     8043
      Gfx dev     2048     2000       48        0     2048
   EGL mtrack    40960    40960        0        0    40960
    GL mtrack    10240    10240        0        0    10240
 Other mtrack      512      512        0        0      512
        TOTAL   401155   379804     5600      688   420000   142871   118432    24438

 App Summary
                       Pss(KB)                        Rss(KB)
                        ------                         ------
           Java Heap:    25356                          30000
            Graphics:    53200                          53248
       Private Other:     1000                           1100

** MEMINFO in pid 99 [com.other] **
                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap
                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free
                ------   ------   ------   ------   ------   ------   ------   ------
   EGL mtrack        8        8        0        0        8
"""


def test_android10_layout_with_rss_and_two_processes():
    res = meminfo.parse(A10_APP)
    assert res.problems == []
    a, b = of(res, AppMemtrack)
    assert (a.pid, a.package) == (4321, "com.example.game")
    assert (a.gfx_dev, a.egl_mtrack, a.gl_mtrack, a.other_mtrack) == (
        2048 * K, 40960 * K, 10240 * K, 512 * K)
    assert a.private_dirty["gfx_dev"] == 2000 * K
    # Graphics = private dirty of Gfx dev + EGL mtrack + GL mtrack = 2000 + 40960 + 10240
    assert a.graphics_summary == 53200 * K == sum(
        a.private_dirty[k] for k in ("gfx_dev", "egl_mtrack", "gl_mtrack"))
    assert a.private_other == 1000 * K
    assert b == AppMemtrack(99, "com.other", egl_mtrack=8 * K, private_dirty={"egl_mtrack": 8 * K})


def test_android44_layout_private_dirty_is_fourth_column():
    text = """\
** MEMINFO in pid 7 [old.app] **
                   Pss      Pss   Shared  Private   Shared  Private     Heap     Heap     Heap
                 Total    Clean    Dirty    Dirty    Clean    Clean     Size    Alloc     Free
                ------   ------   ------   ------   ------   ------   ------   ------   ------
      Gfx dev     1000        0       10      900        0       50
"""
    res = meminfo.parse(text)
    assert res.problems == []
    [a] = of(res, AppMemtrack)
    assert a.gfx_dev == 1000 * K and a.private_dirty == {"gfx_dev": 900 * K}


SYSTEM = """\
Total PSS by process:
    262,345K: system (pid 1234)
     85,190K: com.android.systemui (pid 2345 / activities)
      9,000K: my (pid 1) app (pid 777) (1,024K in swap)

Total PSS by OOM adjustment:
    300,000K: Native
        50,000K: surfaceflinger (pid 600)

Total PSS by category:
    500,000K: Native
     98,460K: EGL mtrack
     82,284K: GL mtrack
      1,234K: Other mtrack (12K in swap)

Total RSS by category:
    600,000K: Native
     98,460K: EGL mtrack

Total RAM: 7.698.860K (status normal)
      ION:   120,000K (  20,000K mapped +    90,000K unmapped +    10,000K pools)
      GPU:   258,796K
DMA-BUF Heap:    24,844K
"""


def test_system_dump_sections():
    res = meminfo.parse(SYSTEM)
    assert res.problems == []
    assert of(res, ProcessMem) == [
        ProcessMem(1234, "system", "pss", 262345 * K),
        ProcessMem(2345, "com.android.systemui", "pss", 85190 * K),
        ProcessMem(777, "my (pid 1) app", "pss", 9000 * K, 1024 * K)]
    cats = of(res, CategoryTotal)
    assert CategoryTotal("EGL mtrack", "pss", 98460 * K) in cats
    assert CategoryTotal("Other mtrack", "pss", 1234 * K) in cats
    assert CategoryTotal("EGL mtrack", "rss", 98460 * K) in cats
    assert len(cats) == 6   # OOM-adjustment groups are not categories
    lines = {r.key: r for r in of(res, SystemLine)}
    assert lines["total_ram"].total == 7698860 * K       # "." grouping (German locale)
    assert lines["ion"] == SystemLine("ion", 120000 * K, {"mapped": 20000 * K,
                                                          "unmapped": 90000 * K,
                                                          "pools": 10000 * K})
    assert lines["gpu"] == SystemLine("gpu", 258796 * K, {})
    assert lines["dmabuf_heaps"].total == 24844 * K      # lowmem report spelling


def test_garbled_numbers_are_reported():
    res = meminfo.parse("DMA-BUF:   81x,715K (152K mapped + 1K unmapped)\n"
                        "      GPU:   1,000K (5K dmabuf + junk)\n")
    [gpu] = of(res, SystemLine)
    assert gpu.parts == {"dmabuf": 5 * K}
    assert {p.line for p in res.problems} == {2}


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    res = meminfo.parse(text)
    assert isinstance(res.records, list)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["DMA-BUF", "DMA-BUF Heaps", "DMA-BUF Heaps pool",
                                        "Kernel CMA", "Lost RAM"]),
                       st.integers(0, 10**12), min_size=1))
def test_round_trip_tail_lines(values):
    text = "".join(f"{k}: {v:>12,}K\n" for k, v in values.items())
    res = meminfo.parse(text)
    keys = {"DMA-BUF": "dmabuf", "DMA-BUF Heaps": "dmabuf_heaps",
            "DMA-BUF Heaps pool": "dmabuf_heaps_pool", "Kernel CMA": "kernel_cma",
            "Lost RAM": "lost_ram"}
    assert {r.key: r.total for r in of(res, SystemLine)} == {
        keys[k]: v * K for k, v in values.items()}
