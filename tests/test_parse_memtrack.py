"""memtrack RFC parser. No real capture exists anywhere public: every text here is built with
the patch series' own printf formats (v2/6 and final 4/6 /proc/<pid>/memtrack, and the
CONFIG_MEMTRACK_DEBUG debugfs file)."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import memtrack
from droidtrack.parse.memtrack import MemtrackDebugEntry, MemtrackEntry


def header_v2(pid):
    return "%10.10s: %16.16s: %12.12s: %3.3s: pid:%d\n" % ("ref_count", "Identifier", "size",
                                                         "tag", pid)


def header_final(pid):
    return "%10.10s: %16.16s: %12.12s: %12.12s: %20s: %5s: %8s: pid:%d\n" % (
        "ref_count", "Identifier", "size", "tag", "startAddr-endAddr", "Flags", "pgOff", pid)


def vma(start, end, flags, pgoff, tag=None):
    s = "%68x-%08x  %s  %08x" % (start, end, flags, pgoff)
    return s + (" " + tag if tag else "") + "\n"


def test_v2_format():
    text = header_v2(1234)
    text += "%10d  %16d  %12d  %s\n" % (2, 0, 8294400, "camera preview")
    text += "%10d  %16d  %12d  %s\n" % (1, 7, 4096, "")
    res = memtrack.parse(text)
    assert res.problems == []
    assert res.records == [MemtrackEntry(1234, 2, 0, 8294400, "camera preview"),
                           MemtrackEntry(1234, 1, 7, 4096, None)]


def test_final_format_with_vmas():
    text = header_final(4321)
    text += "%10d  %16d  %12d  %12s\n" % (1, 3, 65536, "GL textures")
    text += vma(0x7f00000000, 0x7f00010000, "rw-s-", 0, "GL textures")
    text += vma(0x7f00100000, 0x7f00108000, "r--s#", 0x8000, "GL textures")
    text += "%10d  %16d  %12d  %12s\n" % (2, 4, 4096, "(null)")
    text += vma(0x1000, 0x2000, "rw-p-", 0)
    res = memtrack.parse(text)
    assert res.problems == []
    assert res.records == [
        MemtrackEntry(4321, 1, 3, 65536, "GL textures",
                      ((0x7f00000000, 0x7f00010000, "rw-s-", 0),
                       (0x7f00100000, 0x7f00108000, "r--s#", 0x8000))),
        MemtrackEntry(4321, 2, 4, 4096, None, ((0x1000, 0x2000, "rw-p-", 0),))]


def test_empty_file_and_headerless_rows():
    assert memtrack.parse("") .records == [] and memtrack.parse("").problems == []
    res = memtrack.parse("%10d  %16d  %12d  %s\n" % (1, 0, 4096, "x") + vma(1, 2, "rw-s-", 0))
    assert res.records == [] and [p.line for p in res.problems] == [1, 2]


def test_two_files_concatenated_keep_their_pids():
    text = (header_v2(1) + "%10d  %16d  %12d  %s\n" % (1, 0, 10, "a")
            + header_v2(2) + "%10d  %16d  %12d  %s\n" % (1, 0, 10, "a"))
    assert [r.pid for r in memtrack.parse(text).records] == [1, 2]


def test_debug_file():
    text = "%4.4s %12.12s %10s %12.12s %3.3s\n" % ("pid", "buffer_size", "ref", "Identifier", "tag")
    text += "%4d %12d %10d %12d %s\n" % (612, 8294400, 2, 0, "sf client target")
    text += "%4d %12d %10d %12d %s\n" % (12345, 4096, 0, 1, "")
    text += "garbage\n"
    res = memtrack.parse_debug(text)
    assert res.records == [MemtrackDebugEntry(612, 8294400, 2, 0, "sf client target"),
                           MemtrackDebugEntry(12345, 4096, 0, 1, None)]
    assert [p.line for p in res.problems] == [4]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    memtrack.parse(text)
    memtrack.parse_debug(text)


tag = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=31)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4194304),
       st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1),
                          st.integers(0, 2**40), tag,
                          st.lists(st.tuples(st.integers(0, 2**47), st.integers(0, 2**47),
                                             st.sampled_from(["rw-s-", "r--s#", "rwxp-"]),
                                             st.integers(0, 2**32)), max_size=3)),
                max_size=5))
def test_round_trip_final(pid, rows):
    text = header_final(pid)
    for ref, ident, size, t, vmas in rows:
        text += "%10d  %16d  %12d  %12s\n" % (ref, ident, size, t)
        for v in vmas:
            text += vma(*v, t)
    res = memtrack.parse(text)
    assert [(r.ref_count, r.ident, r.size, r.tag, r.vmas) for r in res.records] == [
        (ref, ident, size, t.strip() or None if t.strip() != "(null)" else None, tuple(vmas))
        for ref, ident, size, t, vmas in rows]
