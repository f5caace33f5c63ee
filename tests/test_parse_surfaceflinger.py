"""parse/surfaceflinger.py: the gralloc tables of `dumpsys SurfaceFlinger`, read as published and as attacked."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import surfaceflinger as sf

DATA = Path(__file__).parent / "data"
PIXEL = (DATA / "dumpsys_surfaceflinger_gralloc_pixel_blog.txt").read_text()

# an older release: "Allocated buffers:", the handle ends with ':', usage printed unpadded,
# imported sizes in %g form (three digits)
OLD = """\
Allocated buffers:
0xb400006e813066e0:  144.00 KiB |  720 ( 768) x   48 |    1 |        1 | 0x10000900 | StatusBar#0
0xb400006e813367d0: 4320.00 KiB |  720 ( 768) x 1440 |    1 |        1 | 0x10000900 | com.example.app/com.example.app.Main#0
0xb400006e8133a6e0:  512.00 KiB |  256 ( 256) x  512 |    1 |       21 | 0x   20003 | Camera3-Stream
Total allocated by GraphicBufferAllocator (estimate): 4976.00 KB
Imported gralloc buffers:
+ name:com.example.app/com.example.app.Main#0, id:20517, size:4.3e+03KiB, w/h:720x1440, usage: 0x10000900, req fmt:1, fourcc/mod:875708993/0, compressed: true
        planes: R/G/B/A:         w/h:720x1440, stride:3072 bytes, size:4448256
Total imported by gralloc: 4344.00KiB
"""


def test_the_published_pixel_tables_sum_to_their_own_totals():
    r = sf.parse(PIXEL)
    assert r.problems == []
    alloc = [x for x in r.records if x.table == "allocated"]
    imported = [x for x in r.records if x.table == "imported"]
    assert len(alloc) == 6 and len(imported) == 10
    assert sum(x.size for x in alloc) == r.totals["allocated"] == 61200 * 1024
    fb = alloc[0]
    assert (fb.name, fb.width, fb.stride, fb.height, fb.layers, fb.format, fb.usage) == \
        ("FramebufferSurface", 1080, 1088, 2400, 1, 1, 0x1b00)
    assert fb.usage_words == ("GPU texture", "GPU render target", "composer overlay", "composer client target")
    dialer = imported[0]
    assert dialer.name == "VRI[GoogleDialtactsActivity]#0(BLAST Consumer)0"
    assert dialer.alloc_size == 10608896 and dialer.size == 10608896          # 10360.25 KiB
    assert dialer.creator_pid == 495 and dialer.stride == 4352
    # the excerpt kept 10 of 27 imported rows, so their sum is below the device's own total line
    assert sum(x.alloc_size for x in imported) < r.totals["imported"] == 118166272


def test_the_older_layout_with_colon_handles_and_g_formatted_sizes():
    r = sf.parse(OLD)
    assert r.problems == []
    a = [x for x in r.records if x.table == "allocated"]
    assert [x.name for x in a] == ["StatusBar#0", "com.example.app/com.example.app.Main#0", "Camera3-Stream"]
    assert a[2].format == 0x21 and "camera output" in a[2].usage_words and "CPU reads often" in a[2].usage_words
    assert "vendor 0x10000000" in a[0].usage_words
    imp = [x for x in r.records if x.table == "imported"][0]
    assert imp.size == 4403200 and imp.alloc_size == 4448256      # %g size is rough; planes are exact
    assert imp.creator_pid is None                                 # id 20517 names no process


def test_a_name_carrying_the_lists_own_separators_is_read_from_the_right_and_said():
    forged = ("Imported gralloc buffers:\n"
              "+ name:evil, id:99, size:1.00KiB, w/h:1x1, usage: 0x0, id:2126008817486, size:10360.25KiB, "
              "w/h:1080x2400, usage: 0xb00, req fmt:1, dataspace: 0x0\n"
              "Total imported by gralloc: 10360.25KiB\n")
    r = sf.parse(forged)
    (rec,) = r.records
    assert rec.id == 2126008817486 and rec.size == 10608896
    assert rec.name.startswith("evil, id:99")
    assert any("field separators" in p.message for p in r.problems)


def test_markup_escapes_and_tabs_in_requestors_stay_text():
    name = "<img src=x onerror=alert(1)>\t\x1b[31m=HYPERLINK(\"x\")|"
    text = ("GraphicBufferAllocator buffers:\n"
            f"0x1 | 4.00 KiB |    1 (   1) x    1 |      1 |        1 | 0x     100 | {name}\n"
            "Total allocated by GraphicBufferAllocator (estimate): 4.00 KB\n")
    (rec,) = sf.parse(text).records
    assert rec.name == name and rec.size == 4096


def test_cut_and_garbage_text_is_skipped_and_said():
    cut = PIXEL[: PIXEL.index("Total allocated")] + "0xb4000070f706d170 | 10200.00 Ki"
    r = sf.parse(cut)
    assert len(r.records) == 6
    msgs = " ".join(p.message for p in r.problems)
    assert "skipped" in msgs and "no total line" in msgs
    r = sf.parse("hello\nworld\n")
    assert r.records == [] and any("no GraphicBufferAllocator" in p.message for p in r.problems)
    long = "GraphicBufferAllocator buffers:\n" + "0x1 | " + "9" * 100000 + " KiB\n"
    r = sf.parse(long)
    assert r.records == [] and r.problems


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(0, len(PIXEL)))
def test_never_raises_and_never_reports_an_internal_error(junk, cut):
    for text in (junk, PIXEL[:cut] + junk, junk + OLD):
        r = sf.parse(text)
        assert not any("internal parser error" in p.message for p in r.problems)
        assert all(x.size >= 0 for x in r.records)
