"""debugfs dma_buf/bufinfo: every kernel layout, pasted copies, hostile names."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import bufinfo

DATA = Path(__file__).parent / "data"

HDR_OLD = "%-8s\t%-8s\t%-8s\t%-8s\texp_name\n" % ("size", "flags", "mode", "count")
HDR_53 = "%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\n" % ("size", "flags", "mode", "count", "ino")
HDR_519 = "%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\tname\n" % ("size", "flags", "mode", "count", "ino")


def render(bufs, layout: str, fences=()) -> str:
    """What dma_buf_debug_show prints (the kernel's format strings, formats.md §1)."""
    hdr = {"4.9": HDR_OLD, "4.12": HDR_OLD, "5.3": HDR_53, "5.19": HDR_519}[layout]
    out = ["\nDma-buf Objects:\n", hdr]
    total = 0
    for b in bufs:
        row = "%08d\t%08x\t%08x\t%08d\t%s" % (b["size"], b["flags"], b["mode"], b["count"], b["exp"])
        if layout in ("5.3", "5.19"):
            name = b["name"] or ("" if layout == "5.3" else "<none>")
            row += "\t%08d\t%s" % (b["ino"], name)
        out.append(row + "\n")
        if layout != "4.9":
            out.extend(fences)
        out.append("\tAttached Devices:\n")
        for d in b["att"]:
            out.append("\t%s\n" % d)
        out.append("Total %d devices attached\n\n" % len(b["att"]))
        total += b["size"]
    out.append("\nTotal %d objects, %d bytes\n" % (len(bufs), total))
    return "".join(out)


def buf(size, exp, ino=None, name=None, att=(), count=1, flags=2, mode=7):
    return dict(size=size, exp=exp, ino=ino, name=name, att=list(att), count=count, flags=flags, mode=mode)


def test_sample_aosp_qcom_ion_pasted_with_spaces():
    r = bufinfo.parse((DATA / "bufinfo_aosp_dmabufinfo_test_qcom_ion.txt").read_text())
    assert [(b.size, b.flags, b.mode, b.count, b.exporter, b.inode, b.name, b.attached) for b in r.records] == [
        (45056, 2, 7, 2, "ion", 22069, None, ()),
        (1048576, 2, 7, 1, "ion", 19834, "CAMERA", ("soc:qcom,cam_smmu:msm_cam_smmu_icp",)),
    ]
    assert r.variant == "pasted-spaces"
    assert r.family == "5.3-5.18"       # the first row's trailing (expanded) TAB: empty name
    assert r.total_objects is None
    assert any("cut" in p.message for p in r.problems)


def test_sample_linux_4_12_fence_patch():
    r = bufinfo.parse((DATA / "bufinfo_linux_4.12_fence_debugging_patch_etnaviv.txt").read_text())
    assert len(r.records) == 1
    b = r.records[0]
    assert (b.size, b.flags, b.mode, b.count, b.exporter, b.inode, b.name) == (8294400, 0, 5, 5, "drm", None, None)
    assert b.attached == ("gpu-subsystem",)
    assert (r.total_objects, r.total_bytes) == (1, 8294400)
    assert r.family == "4.12-5.2" and r.variant == "pasted-spaces"
    assert not any("Total line says" in p.message for p in r.problems)


def test_kernel_4_9_no_fences():
    text = render([buf(4096, "ion", att=["kgsl-3d0"]), buf(8192, "ion", count=3)], "4.9")
    r = bufinfo.parse(text)
    assert r.variant == "≤5.2"
    assert [(b.size, b.count, b.inode, b.name, b.attached) for b in r.records] == [
        (4096, 1, None, None, ("kgsl-3d0",)), (8192, 3, None, None, ())]
    assert r.problems == []


def test_kernel_5_3_trailing_tab_and_5_19_none():
    bufs = [buf(4096, "system", ino=12, name=None), buf(65536, "qcom,system", ino=13, name="qcom,system")]
    r = bufinfo.parse(render(bufs, "5.3"))
    assert r.variant == "5.3-5.18" and r.problems == []
    assert [(b.inode, b.name, b.exporter) for b in r.records] == [(12, None, "system"), (13, "qcom,system", "qcom,system")]
    r = bufinfo.parse(render(bufs, "5.19"))
    assert r.variant == "5.19+" and r.problems == []
    assert [(b.inode, b.name) for b in r.records] == [(12, None), (13, "qcom,system")]


def test_every_fence_line_spelling_is_skipped():
    fences = [
        "\tExclusive fence: etnaviv 134000.gpu signalled\n",
        "\tShared fence: i915 ring0 unsignalled\n",
        "\tShared fence:i915 i915_ring seq 12 signalled\n",
        "\twrite fence:drm_sched asahi_sched seq 5809165 signalled\n",
        "\tkernel fence:0:0   signalled\n",
        "\tFences concurrently modified\n",
    ]
    r = bufinfo.parse(render([buf(4096, "drm", ino=2, name="G:screenshot", att=["gpu"])], "5.19", fences))
    assert r.problems == []
    assert r.records[0].attached == ("gpu",) and r.records[0].name == "G:screenshot"


def test_lock_failure_line_means_a_missing_buffer():
    text = HDR_53 + "\tERROR locking buffer object: skipping\n" + render([buf(4096, "ion", ino=5)], "5.3").split(HDR_53)[1]
    r = bufinfo.parse(text)
    assert len(r.records) == 1 and r.skipped_locked == 1
    assert any("could not lock" in p.message for p in r.problems)
    assert not any("Total line says" in p.message for p in r.problems)


def test_total_disagreeing_with_rows_is_reported():
    text = render([buf(4096, "ion", ino=5)], "5.3").replace("Total 1 objects, 4096 bytes", "Total 2 objects, 9999 bytes")
    msgs = [p.message for p in bufinfo.parse(text).problems]
    assert any("2 objects but 1" in m for m in msgs)
    assert any("9999 bytes but the rows add up to 4096" in m for m in msgs)


def test_cut_text_keeps_rows_and_says_so():
    text = render([buf(4096, "ion", ino=5, att=["a"]), buf(4096, "ion", ino=6)], "5.3")
    cut = text[: text.index("00000006")]
    r = bufinfo.parse(cut)
    assert [b.inode for b in r.records] == [5]
    assert any("cut" in p.message for p in r.problems)


def test_console_prompt_and_missing_header():
    rows = render([buf(4096, "system", ino=9, name="cam")], "5.19").split(HDR_519)[1]
    r = bufinfo.parse("$ adb shell su -c cat /d/dma_buf/bufinfo\n" + rows)
    assert [(b.inode, b.name) for b in r.records] == [(9, "cam")]
    assert r.family == "5.3+"   # rows alone cannot tell 5.3-5.18 from 5.19+ when every buffer is named
    assert any("before the table" in p.message for p in r.problems)


def test_name_with_newline_is_joined_and_reported():
    r = bufinfo.parse(render([buf(4096, "system", ino=9, name="two\nlines", att=["d"])], "5.19"))
    assert r.records[0].name == "two\nlines"
    assert r.records[0].attached == ("d",)
    assert any("continues on the next line" in p.message for p in r.problems)


def test_long_garbage_after_row_is_not_a_new_buffer():
    text = render([buf(4096, "system", ino=9, name="n")], "5.19")
    text = text.replace("\tn\n", "\tn\n" + "this is certainly not part of a 31 byte name at all\n")
    r = bufinfo.parse(text)
    assert [(b.inode, b.name) for b in r.records] == [(9, "n")]
    assert any("unrecognized line after a buffer row" in p.message for p in r.problems)


def test_forged_total_inside_a_name_does_not_end_the_table():
    # a name may hold "\nTotal 1 objects, 1 bytes": right after a row it is part of the name
    text = render([buf(4096, "x", ino=1, name="a\nTotal 1 objects, 1 bytes"), buf(4096, "x", ino=2)], "5.19")
    r = bufinfo.parse(text)
    assert [b.inode for b in r.records] == [1, 2]
    assert (r.total_objects, r.total_bytes) == (2, 8192)


def test_vendor_extra_columns():
    text = ("size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\texp_pid\texp_task_comm\n"
            "00004096\t00000002\t00000007\t00000001\tsystem\t00000042\tcam buf\t1234\tcameraserver\n"
            "\tAttached Devices:\nTotal 0 devices attached\n\nTotal 1 objects, 4096 bytes\n")
    r = bufinfo.parse(text)
    b = r.records[0]
    assert (b.inode, b.name, b.extra) == (42, "cam buf", (("exp_pid", "1234"), ("exp_task_comm", "cameraserver")))


def test_empty_and_garbage():
    assert bufinfo.parse("").records == []
    assert any("no bufinfo table" in p.message for p in bufinfo.parse("").problems)
    r = bufinfo.parse("\x1b[31mhello\x00\nTotal x objects\n\t\t\n99999999999999999999999999 9\n")
    assert r.records == []


def test_huge_numbers_do_not_raise():
    text = HDR_53 + ("9" * 5000) + "\t00000002\t00000007\t00000001\tion\t" + "9" * 5000 + "\t\n"
    bufinfo.parse(text)  # must not raise (Python refuses int() of > 4300 digits)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    bufinfo.parse(text)


_name = st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), max_size=31)
_exp = st.text(st.characters(blacklist_characters="\t\n\r\x00", blacklist_categories=("Cs",)), min_size=1, max_size=20)
_dev = st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30)
_buf = st.builds(buf, st.integers(0, 2**40), _exp, st.integers(1, 2**40), _name,
                 st.lists(_dev, max_size=3), st.integers(0, 99999999), st.integers(0, 2**32 - 1),
                 st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(st.lists(_buf, max_size=6), st.sampled_from(["4.9", "4.12", "5.3", "5.19"]))
def test_generated_tables_round_trip(bufs, layout):
    fences = ["\tShared fence:i915 ring seq 1 signalled\n"] if layout == "4.12" else []
    r = bufinfo.parse(render(bufs, layout, fences))
    assert r.problems == []
    got = [(b.size, b.flags, b.mode, b.count, b.exporter, b.inode, b.name, b.attached) for b in r.records]
    new = layout in ("5.3", "5.19")
    want = [(b["size"], b["flags"], b["mode"], b["count"], b["exp"], b["ino"] if new else None,
             (None if b["name"] in ("", "<none>", None) else b["name"]) if new else None, tuple(b["att"]))
            for b in bufs]
    assert got == want
    assert (r.total_objects, r.total_bytes) == (len(bufs), sum(b["size"] for b in bufs))


# ---- rows(): the pipeline's columns, only for a text parse() reads the same with no problem ------
def rows_agree(text: str) -> bool:
    r = bufinfo.rows(text)
    if r is None:
        return False
    res = bufinfo.parse(text)
    assert res.problems == []
    assert r == bufinfo.table(res)
    return True


def test_rows_of_every_kernel_layout_without_fences():
    bufs = [buf(4096, "system", 3, "gralloc", ["dev0", "d e v"]), buf(8192, "qcom,system", 4, None), buf(1, "x", 5, "")]
    for layout in ("4.9", "5.3", "5.19"):
        assert rows_agree(render(bufs, layout)), layout
        assert rows_agree(render([], layout))
    assert not rows_agree(render(bufs, "4.12", ["\tShared fence:i915 ring seq 1 signalled\n"]))


def test_rows_leave_anything_else_to_parse():
    good = render([buf(4096, "system", 3, "gralloc", ["dev0"]), buf(8192, "ion", 4, "x")], "5.3")
    for old, new in (("Total 2 objects", "Total 3 objects"), ("12288 bytes", "12289 bytes"),
                     ("Total 1 devices", "Total 2 devices"), ("\tgralloc\n", "\tgra\nlloc\n"),
                     ("\nDma-buf Objects:\n", "$ cat bufinfo\n"), ("12288 bytes\n", "12288 bytes\nmore\n"),
                     ("ino     \n", "ino\n"), ("00004096", "00004O96"), ("\n", "\r\n")):
        assert old in good or old == "\n", old
        assert not rows_agree(good.replace(old, new)), (old, new)
    assert not rows_agree(good[:-1] + " ")
    assert not rows_agree(render([buf(4096, "system", 3, "n")], "5.3").replace(HDR_53, HDR_OLD))


@settings(max_examples=300, deadline=None)
@given(st.lists(_buf, max_size=5), st.sampled_from(["4.9", "5.3", "5.19"]),
       st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 3),
                          st.sampled_from(["\n", "\t", " ", "0", "Total ", "\tAttached Devices:\n", "<none>", "x"])),
                max_size=2))
def test_rows_never_disagree_with_parse(bufs, layout, edits):
    text = render(bufs, layout)
    for pos, cut, ins in edits:
        pos %= len(text) + 1
        text = text[:pos] + ins + text[pos + cut:]
    rows_agree(text)


def test_tab_inside_an_exporter_name_is_no_phantom_buffer():
    """issue 12 #6: exp_name is any string a driver chose; a tab in it must not shift the inode
    column (the row was read as a buffer without inode, exporter 'my': a phantom buffer)."""
    for layout in ("5.3", "5.19"):
        bufs = [buf(1048576, "my\texp", 12345678, "cam\tera"), buf(4096, "system", 87654321, None)]
        r = bufinfo.parse(render(bufs, layout))
        assert [(b.size, b.exporter, b.inode, b.name) for b in r.records] == [
            (1048576, "my\texp", 12345678, "cam\tera"), (4096, "system", 87654321, None)], layout
        assert not [p for p in r.problems if "inode" in p.message]
        assert bufinfo.read(render(bufs, layout)).inodes == [12345678, 87654321]
    r = bufinfo.parse(render([buf(4096, "a\tb\tc")], "4.9"))
    assert [(b.exporter, b.inode) for b in r.records] == [("a\tb\tc", None)]
