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
    text += "garbage\n"
    text += "%4d %12d %10d %12d %s\n" % (612, 8294400, 2, 0, "sf client target")
    text += "%4d %12d %10d %12d %s\n" % (12345, 4096, 0, 1, "")
    res = memtrack.parse_debug(text)
    assert res.records == [MemtrackDebugEntry(612, 8294400, 2, 0, "sf client target"),
                           MemtrackDebugEntry(12345, 4096, 0, 1, None)]
    assert [p.line for p in res.problems] == [2]


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


# issue 12 #7: a tag (at most 31 bytes) holding a newline and a row-looking line must not make a row
FORGED = "x\n99999999\t00000000\t00000000\t00"


def test_forged_row_in_a_tag_is_read_as_the_tag():
    assert len(FORGED.encode()) == 31
    victim = header_final(100) + "%10d  %16d  %12d  %12s\n" % (1, 0, 1 << 20, "victim")
    victim += vma(0x7f00000000, 0x7f00100000, "rw-s-", 0, "victim")
    attacker = header_final(200) + "%10d  %16d  %12d  %12s\n" % (1, 1, 4096, FORGED)
    attacker += vma(0x7e00000000, 0x7e00001000, "rw-s-", 0, FORGED)
    res = memtrack.parse(victim + attacker)
    assert [(r.pid, r.ident, r.size) for r in res.records] == [(100, 0, 1 << 20), (200, 1, 4096)]
    assert res.records[1].tag == FORGED
    assert any("newline" in p.message for p in res.problems)
    # the same in v2's format (no VMAs) and in the debugfs list
    res = memtrack.parse(header_v2(200) + "%10d  %16d  %12d  %s\n" % (1, 1, 4096, FORGED))
    assert [(r.pid, r.ident, r.tag) for r in res.records] == [(200, 1, FORGED)]
    dbg = "%4.4s %12.12s %10s %12.12s %3.3s\n" % ("pid", "buffer_size", "ref", "Identifier", "tag")
    dbg += "%4d %12d %10d %12d %s\n" % (200, 4096, 1, 1, "y\n9999 00000000000 0000000000 0")
    res = memtrack.parse_debug(dbg)
    assert [(r.pid, r.ident) for r in res.records] == [(200, 1)]


def test_forged_row_does_not_make_a_mapper_of_the_victims_buffer():
    from droidtrack.ingest.memtrack import feed_memtrack
    from droidtrack.model.build import Builder
    victim = header_final(100) + "%10d  %16d  %12d  %12s\n" % (1, 0, 1 << 20, "victim")
    victim += vma(0x7f00000000, 0x7f00100000, "rw-s-", 0, "victim")
    attacker = header_final(200) + "%10d  %16d  %12d  %12s\n" % (1, 1, 4096, FORGED)
    b = Builder()
    feed_memtrack(b, memtrack.parse(victim + attacker).records)
    snap = b.finish(time=0.0)
    buf = snap.buffers["memtrack:0"]
    assert set(buf.holders) == {100}
    assert snap.processes[200].reported["memtrack"] == 4096


def test_a_longer_line_after_a_tag_is_not_glued_to_it():
    text = header_v2(1) + "%10d  %16d  %12d  %s\n" % (1, 0, 10, "a") + "z" * 40 + "\n"
    res = memtrack.parse(text)
    assert [r.tag for r in res.records] == ["a"] and [p.line for p in res.problems] == [3]
