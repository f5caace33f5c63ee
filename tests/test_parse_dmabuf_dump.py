"""dmabuf_dump parser: the real AOSP fixture, every mode built from the tool's printf formats,
and arbitrary text."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack.parse import dmabuf_dump
from droidtrack.parse.detect import unwrap_pasted
from droidtrack.parse.dmabuf_dump import (DumpBuffer, DumpBufferRefs, DumpExporterTotal,
                                          DumpProcessTotal, DumpSysfsBuffer, DumpSysfsTotal,
                                          DumpTotals)
from parsed import DATA, of

K = 1024


def clean(text: str, mode: str):
    """dmabuf_dump.parse(text), which must read it as `mode` and find nothing to say."""
    res = dmabuf_dump.parse(text)
    assert res.problems == [] and res.mode == mode
    return res


# -- the real sample ---------------------------------------------------------------------------

def lyric_text(substitute: bool) -> str:
    # source: tests/data/dmabuf_dump_default_java_fixture_lyric.txt (first line says where from)
    java = (DATA / "dmabuf_dump_default_java_fixture_lyric.txt").read_text()
    if substitute:
        # the Java test fills these variables at run time; give them values
        for var, val in [("providerPid", "1001"), ("serverPid", "1002"), ("appPid", "1003"),
                         ("providerDmabuf", "1752"), ("serverDmabuf", "315000"),
                         ("appDmabuf", "347000")]:
            java = java.replace(f"+ {var}\n", f'+ "{val}"\n')
    return unwrap_pasted(java)


def test_lyric_fixture_default_mode():
    res = dmabuf_dump.parse(lyric_text(substitute=True))
    assert res.mode == "default" and not res.not_found
    bufs = of(res, DumpBuffer)
    # 3 processes x 6 rows in the fixture
    assert len(bufs) == 18
    assert {b.pid for b in bufs} == {1001, 1002, 1003}
    assert {b.comm for b in bufs} == {"provider@2.7-se", "cameraserver", "id.GoogleCamera"}
    assert all(b.name is None and b.exporter is None and b.nr_procs == 1 for b in bufs)
    first = bufs[0]
    assert (first.inode, first.rss, first.pss) == (153387, 576 * K, 576 * K)
    assert [b.inode for b in bufs[:6]] == [153387, 153388, 153389, 153390, 205579, 205580]
    totals = of(res, DumpProcessTotal)
    # PROCESS TOTAL rss as printed: 1752, 315376, 347304 kB; pss = the substituted values
    assert [(t.pid, t.rss, t.pss) for t in totals] == [
        (1001, 1752 * K, 1752 * K), (1002, 315376 * K, 315000 * K), (1003, 347304 * K, 347000 * K)]
    # final line: dmabuf total 1752 kB, kernel_rss 0, userspace_rss 1752, userspace_pss 1752
    assert of(res, DumpTotals) == [DumpTotals(1752 * K, 0, 1752 * K, 1752 * K)]
    # rows of provider add up to its total (3*576 + 3*8 = 1752); the two others were edited by
    # the test author (6 rows = 1752 kB vs 315376 / 347304 kB): said, not hidden
    msgs = [p for p in res.problems if "PROCESS TOTAL" in p.message]
    assert [p.line for p in msgs] == [19, 29]
    assert len(res.problems) == 2


def test_lyric_fixture_unsubstituted_placeholders_are_skipped_not_guessed():
    res = dmabuf_dump.parse(lyric_text(substitute=False))
    assert of(res, DumpBuffer) == [] and of(res, DumpProcessTotal) == []
    assert of(res, DumpTotals) == [DumpTotals(1752 * K, 0, 1752 * K, 1752 * K)]
    lines = [p.line for p in res.problems]
    assert 1 in lines and 11 in lines and 21 in lines
    assert any("no numeric pid" in p.message for p in res.problems)


# -- built from the printf formats --------------------------------------------------------------

def proc_header(comm, pid):
    return "%16s:%-5d\n" % (comm, pid)


def row(name, rss_kb, pss_kb, nr, ino, exporter=None):
    s = "%22s %13d kB %13d kB %16d %16d" % (name, rss_kb, pss_kb, nr, ino)
    if exporter is not None:
        s += "  %22s" % exporter
    return s + "\n"


def default_dump(with_exporter: bool) -> str:
    hdr = "%22s %16s %16s %16s %16s" % ("Name", "Rss", "Pss", "nr_procs", "Inode")
    if with_exporter:
        hdr += " %22s" % "Exporter"
    hdr += "\n"
    e = (lambda x: x) if with_exporter else (lambda x: None)
    out = proc_header("surfaceflinger", 612) + hdr
    out += row("gralloc:GL", 8100, 4050, 2, 82, e("qcom,system"))
    out += row("a name 5 kB with", 64, 64, 1, 83, e("system"))  # spaces and a fake "5 kB"
    out += row("<unknown>", 4, 2, 2, 2, e("<unknown>"))
    out += "%22s %13d kB %13d kB %16s\n" % ("PROCESS TOTAL", 8168, 4116, "")
    out += "----------------------\n"
    out += proc_header("N/A", 4194303) + hdr
    out += row("gralloc:GL", 8100, 4050, 2, 82, e("qcom,system"))
    out += row("<unknown>", 4, 2, 2, 2, e("<unknown>"))
    out += "%22s %13d kB %13d kB %16s\n" % ("PROCESS TOTAL", 8104, 4052, "")
    out += "----------------------\n"
    out += ("dmabuf total: %d kB kernel_rss: %d kB userspace_rss: %d kB userspace_pss: %d kB\n "
            % (9000, 832, 16272, 8168))
    return out


def test_default_2019_to_2024_layout():
    res = clean(default_dump(with_exporter=False), "default")
    bufs = of(res, DumpBuffer)
    assert bufs[1] == DumpBuffer(612, "surfaceflinger", "a name 5 kB with", 64 * K, 64 * K, 1, 83)
    assert bufs[0].name == "gralloc:GL" and bufs[2].name is None
    assert [(b.pid, b.comm) for b in bufs[3:]] == [(4194303, "N/A")] * 2
    assert of(res, DumpProcessTotal) == [DumpProcessTotal(612, "surfaceflinger", 8168 * K, 4116 * K),
                                          DumpProcessTotal(4194303, "N/A", 8104 * K, 4052 * K)]
    assert of(res, DumpTotals) == [DumpTotals(9000 * K, 832 * K, 16272 * K, 8168 * K)]


def test_default_android16_exporter_column():
    res = dmabuf_dump.parse(default_dump(with_exporter=True))
    assert res.problems == []
    bufs = of(res, DumpBuffer)
    assert [b.exporter for b in bufs] == ["qcom,system", "system", None, "qcom,system", None]
    assert bufs[1].name == "a name 5 kB with" and bufs[1].inode == 83


def test_tabs_expanded_and_prompt_noise():
    text = "root@dev:/ # dmabuf_dump\n" + default_dump(False).replace("  ", " ")
    res = dmabuf_dump.parse(text)
    assert len(of(res, DumpBuffer)) == 5
    assert [p.line for p in res.problems] == [1]


def table_2023():
    out = "\n----------------------- DMA-BUF Table buffer x process --------------------------\n"
    out += "    Dmabuf Inode |            Size |   Fd Ref Counts |  Map Ref Counts |"
    out += "%16s:%-5d |" % ("surfaceflinger", 612) + "%16s:%-5d |" % ("my app x", 12345)
    out += "\n"
    out += "%16d |%13d kB |%16d |%16d |" % (82, 8100, 2, 1) + "%9d(%6d) refs |" % (1, 1)
    out += "%9d(%6d) refs |" % (2, 0) + "\n"
    out += "%16d |%13d kB |%16d |%16d |" % (2, 4, 0, 1) + "%22s |" % "--"
    out += "%9d(%6d) refs |" % (0, 3) + "\n"
    out += "------------------------------------\n"
    out += "%-16s  %13d kB |%16s |%16s |" % ("TOTALS", 8104, "n/a", "n/a")
    out += "%19d kB |" % 8100 + "%19d kB |" % 8104 + "\n"
    return out


def test_table_fd_and_map_columns():
    res = clean(table_2023(), "all")
    refs = of(res, DumpBufferRefs)
    assert refs == [DumpBufferRefs(82, 8100 * K, {612: 1, 12345: 2}, {612: 1}),
                    DumpBufferRefs(2, 4 * K, {}, {12345: 3})]
    assert of(res, DumpTotals) == [DumpTotals(userspace_unique=8104 * K)]
    assert of(res, DumpProcessTotal) == [DumpProcessTotal(612, "surfaceflinger", 8100 * K, None),
                                          DumpProcessTotal(12345, "my app x", 8104 * K, None)]


def test_table_2019_single_ref_counts_column():
    out = "    Dmabuf Inode |            Size |      Ref Counts |"
    out += "%16s:%-5d |" % ("composer", 700) + "\n"
    out += "%16d |%13d kB |%16d |" % (7, 4096, 3) + "%17d refs |" % 3 + "\n"
    out += "%16d |%13d kB |%16d |" % (8, 1024, 1) + "%22s |" % "--" + "\n"
    out += "------------------------------------\n"
    out += "%-16s  %13d kB |%16s |" % ("TOTALS", 5120, "n/a") + "%19d kB |" % 4096 + "\n"
    res = dmabuf_dump.parse(out)
    assert res.problems == []
    assert of(res, DumpBufferRefs) == [
        DumpBufferRefs(7, 4096 * K, {700: 3}, {}, total_refs=3, combined=True),
        DumpBufferRefs(8, 1024 * K, {}, {}, total_refs=1, combined=True)]
    assert of(res, DumpProcessTotal) == [DumpProcessTotal(700, "composer", 4096 * K, None)]


def per_buffer_text(extra_section=False):
    sep = "-----------------------"
    out = "\n\n%s DMA-BUF per-buffer stats %s\n" % (sep, sep)
    out += "    Dmabuf Inode |     Size(bytes) |    Exporter Name                    |\n"
    out += "%16d |%16d | %16s \n" % (82, 8294400, "qcom,system")
    out += "%16d |%16d | %16s \n" % (2, 4096, "system")
    if extra_section:
        out += "\n\n%s DMA-BUF attachment stats %s\n" % (sep, sep)
        out += "82 | fd900000.qcom,mdss_mdp | 1\nsomething | else\n"
    out += "\n\n%s DMA-BUF exporter stats %s\n" % (sep, sep)
    out += "      Exporter Name              | Total Count |     Total Size(bytes)   |\n"
    out += "%32s | %12d| %d\n" % ("qcom,system", 1, 8294400)
    out += "%32s | %12d| %d\n" % ("system", 1, 4096)
    out += "\n\n%s DMA-BUF total stats %s\n" % (sep, sep)
    out += "Total DMA-BUF count: %d, Total DMA-BUF size(bytes): %d\n" % (2, 8298496)
    return out


def test_per_buffer_mode():
    res = clean(per_buffer_text(), "per-buffer")
    assert of(res, DumpSysfsBuffer) == [DumpSysfsBuffer(82, 8294400, "qcom,system"),
                                         DumpSysfsBuffer(2, 4096, "system")]
    assert of(res, DumpExporterTotal) == [DumpExporterTotal("qcom,system", 1, 8294400),
                                           DumpExporterTotal("system", 1, 4096)]
    assert of(res, DumpSysfsTotal) == [DumpSysfsTotal(2, 8298496)]


def test_per_buffer_2021_attachment_section_is_skipped_with_a_note():
    res = dmabuf_dump.parse(per_buffer_text(extra_section=True))
    assert len(of(res, DumpSysfsBuffer)) == 2 and len(of(res, DumpExporterTotal)) == 2
    assert len(res.problems) == 1 and "attachment stats" in res.problems[0].message
    assert res.problems[0].line == 9


def test_csv_mode():
    out = "\tsurfaceflinger:612\n"
    out += '"Name","Rss(kB)","Pss(kB)","nr_procs","Inode","Exporter"\n'
    out += '"gralloc:GL",8100,4050,2,82,qcom,system\n'
    out += '"a, \\"quoted\\" name",4,2,2,2,<unknown>\n'
    out += "\nPROCESS TOTAL\n" + '"Rss total(kB)","Pss total(kB)"\n' + "8104,4052\n"
    out += "----------------------\n"
    out += "\tTOTALS\n"
    out += '"dmabuf total (kB)","kernel_rss (kB)","userspace_rss (kB)","userspace_pss (kB)"\n'
    out += "8104,0,8104,4052\n"
    res = clean(out, "csv")
    bufs = of(res, DumpBuffer)
    assert bufs[0] == DumpBuffer(612, "surfaceflinger", "gralloc:GL", 8100 * K, 4050 * K, 2, 82,
                                 "qcom,system")
    assert bufs[1].name == 'a, \\"quoted\\" name' and bufs[1].exporter is None
    assert of(res, DumpProcessTotal) == [DumpProcessTotal(612, "surfaceflinger", 8104 * K, 4052 * K)]
    assert of(res, DumpTotals) == [DumpTotals(8104 * K, 0, 8104 * K, 4052 * K)]


def test_csv_table_and_per_buffer():
    out = '"Dmabuf Inode","Size(kB)","Fd Ref Counts","Map Ref Counts","surfaceflinger:612","app:9"\n'
    out += '82,8100,2,1,"1(1) refs","2(0) refs"\n'
    out += '2,4,0,1,"","0(3) refs"\n'
    out += "------------------------------------\n"
    out += '"Total Size(kB)","surfaceflinger:612 size(kB)","app:9 size(kB)",\n8104,8100,8104\n'
    res = clean(out, "csv")
    assert of(res, DumpBufferRefs) == [DumpBufferRefs(82, 8100 * K, {612: 1, 9: 2}, {612: 1}),
                                       DumpBufferRefs(2, 4 * K, {}, {9: 3})]
    assert of(res, DumpProcessTotal) == [DumpProcessTotal(612, "surfaceflinger", 8100 * K, None),
                                          DumpProcessTotal(9, "app", 8104 * K, None)]
    out = ('"Dmabuf Inode","Size(bytes)","Exporter Name"\n82,8294400,"qcom,system"\n'
           '"Exporter Name","Total Count","Total Size(bytes)"\n"qcom,system",1,8294400\n'
           '"Total DMA-BUF count","Total DMA-BUF size(bytes)"\n1,8294400\n')
    res = dmabuf_dump.parse(out)
    assert res.problems == []
    assert of(res, DumpSysfsBuffer) == [DumpSysfsBuffer(82, 8294400, "qcom,system")]
    assert of(res, DumpExporterTotal) == [DumpExporterTotal("qcom,system", 1, 8294400)]
    assert of(res, DumpSysfsTotal) == [DumpSysfsTotal(1, 8294400)]


def test_not_found_and_failure_messages():
    res = dmabuf_dump.parse("dmabuf info not found ¯\\_(ツ)_/¯\n")
    assert res.not_found and res.records == [] and res.problems == []
    res = dmabuf_dump.parse("Unable to read DMA-BUF per-buffer stats from device\n"
                            "Warning: Total dmabufs < userspace dmabufs\n")
    assert [p.line for p in res.problems] == [1, 2]


def test_truncated_mid_row():
    text = default_dump(False)
    cut = text[: text.index("PROCESS TOTAL") - 30]
    res = dmabuf_dump.parse(cut)
    assert len(of(res, DumpBuffer)) == 2   # the third row is cut in the middle
    assert len(res.problems) == 1 and res.problems[0].line == 5


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    res = dmabuf_dump.parse(text)
    assert isinstance(res.records, list) and isinstance(res.problems, list)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=31)
    .filter(lambda s: s.strip() == s and s not in ("<unknown>", "PROCESS TOTAL")),
    st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 999), st.integers(0, 2**63)),
    min_size=1, max_size=5),
    st.booleans())
def test_round_trip_rows(rows, exporter):
    hdr = "%22s %16s %16s %16s %16s" % ("Name", "Rss", "Pss", "nr_procs", "Inode")
    text = proc_header("proc", 77) + hdr + (" %22s\n" % "Exporter" if exporter else "\n")
    for name, rss, pss, nr, ino in rows:
        text += row(name, rss, pss, nr, ino, "sys tem" if exporter else None)
    res = dmabuf_dump.parse(text)
    got = [(b.name, b.rss // K, b.pss // K, b.nr_procs, b.inode, b.exporter)
           for b in of(res, DumpBuffer)]
    assert got == [(n, r, p, nr, i, "sys tem" if exporter else None) for n, r, p, nr, i in rows]


def test_a_buffer_named_like_a_tool_message_is_a_row():
    """A row whose name starts as dmabuf_dump's own messages do ("Failed to", "Warning:") is still
    a row (hypothesis found it: the name was reported as something dmabuf_dump said)."""
    hdr = "%22s %16s %16s %16s %16s\n" % ("Name", "Rss", "Pss", "nr_procs", "Inode")
    text = proc_header("proc", 77) + hdr + row("Failed to", 4, 2, 1, 9, None) + row("Warning: x", 8, 8, 1, 10, None)
    res = dmabuf_dump.parse(text)
    assert [(b.name, b.inode) for b in of(res, DumpBuffer)] == [("Failed to", 9), ("Warning: x", 10)]
    assert not any("said" in p.message for p in res.problems)
    said = dmabuf_dump.parse(proc_header("proc", 77) + hdr + "Failed to open /proc/77/fdinfo\n")
    assert any(p.message == "dmabuf_dump said: Failed to open /proc/77/fdinfo" for p in said.problems)


def test_huge_garbage_line_is_skipped_not_backtracked():
    # 200,000 spaces would make the right-to-left row pattern quadratic (minutes); the parser
    # skips lines longer than any real row instead
    res = dmabuf_dump.parse(proc_header("a", 1) + "x" + " " * 200_000 + "1 kB\n")
    assert res.records == [] and "longer than" in res.problems[0].message
    # but a -a table row is allowed to be long (24 characters per process)
    pids = range(1, 400)
    text = "    Dmabuf Inode |            Size |   Fd Ref Counts |  Map Ref Counts |"
    text += "".join("%16s:%-5d |" % ("p", pid) for pid in pids) + "\n"
    text += "%16d |%13d kB |%16d |%16d |" % (5, 4, 399, 0)
    text += "".join("%9d(%6d) refs |" % (1, 0) for _ in pids) + "\n"
    res = dmabuf_dump.parse(text)
    assert res.problems == []
    [refs] = of(res, DumpBufferRefs)
    assert refs.fd_refs == {pid: 1 for pid in pids}
