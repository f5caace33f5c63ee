"""maps / smaps of dma-buf VMAs: collector sections and pasted files."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import maps


def maps_line(start, end, perms, offset, dev, inode, path):
    """show_map_vma: "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then pad to column 73, then the path."""
    s = "%08x-%08x %s %08x %s %d " % (start, end, perms, offset, dev, inode)
    if path:
        s = s.ljust(73) + path.replace("\n", "\\012")
    return s


SMAPS_FIELDS = ["Size:               {sz} kB", "KernelPageSize:        4 kB", "MMUPageSize:           4 kB",
                "Rss:                  {rss} kB", "Pss:                  {pss} kB", "Pss_Dirty:             0 kB",
                "Shared_Clean:          0 kB"]


def test_collector_maps_section():
    root = "/tmp/r"
    lines = [
        maps_line(0x7f0000000000, 0x7f0000100000, "rw-s", 0, "00:08", 168, "/dmabuf:qcom,system"),
        maps_line(0x7f0000200000, 0x7f0000201000, "rw-s", 0x100001000, "00:0a", 2, "/dmabuf:gralloc:GL"),
        maps_line(0x7f0000300000, 0x7f0000301000, "r--s", 0x1000, "00:08", 9, "/dmabuf:"),
        maps_line(0x7f0000400000, 0x7f0000401000, "rw-s", 0, "00:08", 10, "/dmabuf:two\nlines"),
        maps_line(0x7f0000500000, 0x7f0000501000, "rw-s", 0, "00:0b", 4242, "anon_inode:dmabuf"),
        maps_line(0x7f0000600000, 0x7f0000601000, "rw-s", 0, "00:08", 11, "/dmabuf (deleted)"),
        maps_line(0x7f0000700000, 0x7f0000701000, "r-xp", 0, "fd:01", 555, "/data/dmabuf_test.so"),
        maps_line(0x7f0000800000, 0x7f0000801000, "r-xp", 0, "fd:01", 556, "/x/ /dmabuf_lib.so"),
    ]
    text = "".join(f"{root}/proc/{pid}/maps:{ln}\n" for pid, ln in zip([12, 12, 12, 12, 34, 34, 34, 34], lines))
    r = maps.parse_maps(text, root)
    assert r.problems == []
    assert [(m.pid, m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.name, m.legacy) for m in r.records] == [
        (12, 0x7f0000000000, 0x7f0000100000, "rw-s", 0, "00:08", 168, "qcom,system", False),
        (12, 0x7f0000200000, 0x7f0000201000, "rw-s", 0x100001000, "00:0a", 2, "gralloc:GL", False),
        (12, 0x7f0000300000, 0x7f0000301000, "r--s", 0x1000, "00:08", 9, None, False),
        (12, 0x7f0000400000, 0x7f0000401000, "rw-s", 0, "00:08", 10, "two\nlines", False),
        (34, 0x7f0000500000, 0x7f0000501000, "rw-s", 0, "00:0b", 4242, None, True),
        (34, 0x7f0000600000, 0x7f0000601000, "rw-s", 0, "00:08", 11, None, False),
    ]
    assert r.records[0].length == 0x100000


def test_aosp_test_generator_shape_and_pasted_file():
    # libdmabufinfo's CreateMapEntry: "0000000000-%010x rw-s 00000000 00:08 %u %s"
    text = ("$ cat /proc/1234/maps\n"
            "0000000000-%010x rw-s 00000000 00:08 %u %s\n" % (4096, 3, "/dmabuf:")
            + "0000000000-%010x rw-s 00000000 00:08 %u %s\n" % (4096, 4, "/not/dmabuf/")
            + "garbage mentioning dmabuf\n")
    r = maps.parse_maps_file(text, pid=1234)
    assert [(m.pid, m.end, m.inode, m.name) for m in r.records] == [(1234, 4096, 3, None)]
    assert len(r.problems) == 1 and "dmabuf" in r.problems[0].text


def test_collector_smaps_section():
    root = ""
    out = []
    for pid, ino, rss, pss in [(12, 168, 0, 0), (12, 9, 8, 4), (34, 2, 1024, 341)]:
        p = f"/proc/{pid}/smaps"
        out.append(f"{p}:" + maps_line(0x1000 * ino, 0x1000 * ino + 0x2000, "rw-s", 0, "00:08", ino, f"/dmabuf:b{ino}"))
        out += [f"{p}-" + f.format(sz=8, rss=rss, pss=pss) for f in SMAPS_FIELDS]
        out.append("--")
    # a grep match that is not a dma-buf VMA, and its context
    out.append("/proc/34/smaps:" + maps_line(0x9000, 0xa000, "r-xp", 0, "fd:01", 77, "/data/dmabuf_x.so"))
    out += ["/proc/34/smaps-" + f.format(sz=4, rss=4, pss=4) for f in SMAPS_FIELDS]
    r = maps.parse_smaps("\n".join(out) + "\n", root)
    assert r.problems == []
    assert [(v.pid, v.inode, v.start, v.rss, v.pss) for v in r.records] == [
        (12, 168, 0xa8000, 0, 0), (12, 9, 0x9000, 8192, 4096), (34, 2, 0x2000, 1024 * 1024, 341 * 1024)]


def test_smaps_context_running_into_the_next_vma():
    p = "/proc/5/smaps"
    text = "\n".join([
        p + ":" + maps_line(0x1000, 0x2000, "rw-s", 0, "00:08", 3, "/dmabuf:a"),
        p + "-Size:                  4 kB",
        p + "-" + maps_line(0x2000, 0x3000, "rw-p", 0, "00:00", 0, ""),
        p + "-Rss:                  4 kB",
    ]) + "\n"
    r = maps.parse_smaps(text, "")
    assert [(v.inode, v.rss, v.pss) for v in r.records] == [(3, None, None)]


def test_hostile_paths_and_garbage():
    r = maps.parse_maps("/proc/x/maps:1-2 rw-s 0 00:08 3 /dmabuf:a\n/proc/1/maps:nonsense\nno root\n", "")
    assert r.records == [] and len(r.problems) == 3
    assert maps.parse_smaps("/proc/1/smaps-Rss: 4 kB\n--\n", "").records == []


_name = st.text(st.characters(blacklist_characters="\x00\r", blacklist_categories=("Cs",)), max_size=31).filter(
    lambda s: "\\012" not in s and s == s.lstrip() and len(s.encode()) <= 31)
_vma = st.tuples(st.integers(1, 10**6), st.integers(0, 2**47), st.integers(1, 2**30),
                 st.sampled_from(["rw-s", "r--s", "rw-p"]), st.integers(0, 2**40), st.integers(0, 2**63), _name)


@settings(max_examples=150, deadline=None)
@given(st.lists(_vma, max_size=8), st.sampled_from(["", "/data/local/tmp/root dir"]))
def test_generated_maps_round_trip(vmas, root):
    text = "".join(f"{root}/proc/{pid}/maps:" + maps_line(s, s + ln, perms, off, "00:08", ino, "/dmabuf:" + name)
                   + "\n" for pid, s, ln, perms, off, ino, name in vmas)
    r = maps.parse_maps(text, root)
    assert r.problems == []
    assert [(m.pid, m.start, m.end, m.perms, m.offset, m.inode, m.name) for m in r.records] == [
        (pid, s, s + ln, perms, off, ino, name or None) for pid, s, ln, perms, off, ino, name in vmas]


# ---- vma_rows(): the pipeline's one pass over smaps, only where both parsers agree --------------
def vma_rows_agree(text: str, root: str) -> bool:
    """vma_rows() is None, or gives what parse_smaps gives, and what parse_maps gives for the VMA
    lines (v2's maps section), with no problem from either."""
    import re
    rows = maps.vma_rows(text, root)
    if rows is None:
        return False
    sm = maps.parse_smaps(text, root)
    vma_lines = "".join(f"{m.group(1)}maps:{m.group(2)}\n" for m in
                        re.finditer("\n(" + re.escape(root) + "/proc/[0-9]{1,20}/)smaps:([^\n]*)", "\n" + text))
    mp = maps.parse_maps(vma_lines, root)
    assert sm.problems == [] and mp.problems == []
    n = maps.VMA_FIELDS
    groups = [rows[i:i + n] for i in range(0, len(rows), n)]
    assert [(int(g[0]), int(g[1], 16), int(g[2], 16), int(g[6]), int(g[10]) * 1024, int(g[11]) * 1024)
            for g in groups] == [(v.pid, v.start, v.end, v.inode, v.rss, v.pss) for v in sm.records]
    assert [(int(g[0]), int(g[1], 16), int(g[2], 16), g[3], int(g[4], 16), g[5], int(g[6]),
             (g[7].replace("\\012", "\n") or None) if g[7] is not None else None, g[9] is not None) for g in groups] \
        == [(m.pid, m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.name, m.legacy) for m in mp.records]
    return True


def smaps_group(root, pid, line, rss=0, pss=0, fields=SMAPS_FIELDS[:5]):
    p = f"{root}/proc/{pid}/smaps"
    return "\n".join([f"{p}:{line}"] + [f"{p}-" + f.format(sz=4, rss=rss, pss=pss) for f in fields]) + "\n"


def test_vma_rows_of_kernel_shaped_groups():
    root = "/r"
    groups = [smaps_group(root, 7, maps_line(0x7000, 0x8000, "rw-s", 0, "00:08", 12, "/dmabuf:gralloc"), 4, 2),
              smaps_group(root, 7, maps_line(0x9000, 0xa000, "r--s", 0x1000, "00:08", 13, "/dmabuf:two\nlines")),
              smaps_group(root, 9, maps_line(0x7000, 0x8000, "rw-s", 0, "00:08", 12, "/dmabuf (deleted)")),
              smaps_group(root, 9, maps_line(0xb000, 0xc000, "rw-s", 0, "00:0b", 4242, "anon_inode:dmabuf"),
                          fields=["Size: 4 kB", "Rss: 0 kB", "Pss: 0 kB"])]
    assert vma_rows_agree("--\n".join(groups), root)
    assert vma_rows_agree("".join(groups), root)
    assert maps.vma_rows("", root) == []
    for odd in ("garbage\n", smaps_group(root, 7, maps_line(0x7000, 0x8000, "rw-s", 0, "00:08", 5, "/dmabuf:x")),
                f"{root}/proc/7/smaps-odd line\n", f"{root}/proc/8/smaps-Rss: 1 kB\n",
                smaps_group(root, 10, maps_line(0x7000, 0x8000, "rw-s", 0, "00:08", 5, "/dmabuf_test.so"))):
        assert not vma_rows_agree("--\n".join(groups[:2]) + odd + "--\n".join(groups[2:]), root), odd
    assert not vma_rows_agree("--\n".join(groups).replace("Rss:                  4 kB", "Rss:  x kB"), root)


_ctx = st.sampled_from(["Size:  4 kB", "Rss:  8 kB", "Pss:  4 kB", "Rss:   x kB", "VmFlags: rd sh", "odd line", "--"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 99), st.integers(0, 2**40), st.sampled_from(["a", "", "x\ny", "\\012"]),
                          st.sampled_from(["/dmabuf:", "/dmabuf", "anon_inode:dmabuf", "/dmabuf (deleted)", "/x"]),
                          st.lists(_ctx, max_size=7)), max_size=5),
       st.sampled_from(["", "/r"]), st.booleans())
def test_vma_rows_never_disagree(vmas, root, seps):
    out = []
    for pid, start, name, kind, ctx in vmas:
        p = f"{root}/proc/{pid}/smaps"
        path = kind + name if kind == "/dmabuf:" else kind
        out.append(f"{p}:" + maps_line(start, start + 4096, "rw-s", 0, "00:08", pid, path))
        out += ["--" if c == "--" else f"{p}-{c}" for c in ctx]
        if seps:
            out.append("--")
    vma_rows_agree("\n".join(out) + "\n", root)
