"""Vendor dmaprocs parser, on text built from the vivo/OPLUS kernel printf formats (no public
capture of this node exists in the samples)."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import dmaprocs
from droidtrack.parse.dmaprocs import DmaprocsBuffer, DmaprocsProcess

K = 1024


def block(comm, pid, rows):
    """rows: (ino, size_bytes, count, exp, name); kernel prints Σ bytes / 1024 and size / 1024."""
    out = "\n%s (PID %d) size: %d kB\nDMA Buffers:\n" % (comm, pid, sum(r[1] for r in rows) // K)
    out += "%-8s\t%-8s\t%-8s\t%-10s\t%-10s\t%-s\n" % ("ino", "size", "count", "flags", "mode",
                                                    "exp_name")
    for ino, size, count, exp, name in rows:
        out += "%08d\t%-8d\t%-8d\t0x%08x\t0x%08x\t%-s\t%-s\n" % (ino, size // K, count, 2, 0x80007,
                                                                exp, name)
    return out


TEXT = (block("surfaceflinger", 612, [(82, 8294400, 4, "qcom,system", "qcom,system"),
                                      (90, 4096 + 512, 2, "system", "")])
        + block("Render (PID 3) x", 4321, [(82, 8294400, 3, "qcom,system", "my buf name")]))


def test_blocks_from_printf_formats():
    res = dmaprocs.parse(TEXT)
    assert res.problems == []
    assert [r for r in res.records if isinstance(r, DmaprocsProcess)] == [
        # 8294400 + 4608 = 8299008 bytes -> 8104 kB (8299008 // 1024 = 8104)
        DmaprocsProcess(612, "surfaceflinger", 8104 * K),
        DmaprocsProcess(4321, "Render (PID 3) x", 8100 * K)]
    bufs = [r for r in res.records if isinstance(r, DmaprocsBuffer)]
    assert bufs[0] == DmaprocsBuffer(612, 82, 8100 * K, 4, "qcom,system", "qcom,system", 2, 0x80007)
    # 4608 bytes print as 4 kB: dmaprocs cannot show sizes below a kB
    assert (bufs[1].size, bufs[1].name, bufs[1].exporter) == (4 * K, None, "system")
    assert (bufs[2].pid, bufs[2].name) == (4321, "my buf name")


def test_tabs_expanded_to_spaces():
    res = dmaprocs.parse(TEXT.expandtabs(8))
    bufs = [r for r in res.records if isinstance(r, DmaprocsBuffer)]
    assert [(b.inode, b.size, b.exporter, b.name) for b in bufs] == [
        (82, 8100 * K, "qcom,system", "qcom,system"), (90, 4 * K, "system", None),
        (82, 8100 * K, "qcom,system", "my buf name")]
    assert res.problems == []


def test_rows_without_header_and_garbage_are_reported():
    text = "00000082\t8100    \t4       \t0x00000002\t0x00080007\tsystem\t\n" + TEXT + "junk\n"
    res = dmaprocs.parse(text)
    assert [p.line for p in res.problems] == [1, len(text.split("\n")) - 1]
    assert "before any" in res.problems[0].message


def test_rows_larger_than_header_are_flagged():
    text = "a (PID 5) size: 1 kB\nDMA Buffers:\n00000001\t8\t1\t0x0\t0x0\tsystem\t\n"
    res = dmaprocs.parse(text)
    assert len(res.problems) == 1 and res.problems[0].line == 1


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    dmaprocs.parse(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(1, 999),
                          st.sampled_from(["system", "qcom,system", "ion"]),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                                  max_size=31).filter(lambda s: s not in ("<none>", "(null)"))),
                min_size=1, max_size=5))
def test_round_trip(rows):
    res = dmaprocs.parse(block("comm", 10, rows))
    bufs = [r for r in res.records if isinstance(r, DmaprocsBuffer)]
    assert [(b.inode, b.size, b.count, b.exporter, b.name) for b in bufs] == [
        (i, s // K * K, c, e, n or None) for i, s, c, e, n in rows]
