"""/proc/<pid>/fdinfo/<fd>: the collector's grep -H section and single pasted files."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import fdinfo

DATA = Path(__file__).parent / "data"


def render_file(pos=0, flags=0o2000002, mnt_id=9, ino=None, size=None, count=None, exp=None, name=None,
                locks=()) -> str:
    """What fs/proc/fd.c + dma_buf_show_fdinfo print (formats.md §2)."""
    s = "pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\n" % (pos, flags, mnt_id)
    if ino is not None:
        s += "ino:\t%d\n" % ino
    for lk in locks:
        s += "lock:\t%s\n" % lk
    if exp is not None:
        s += "size:\t%d\ncount:\t%d\nexp_name:\t%s\n" % (size, count, exp)
        if name is not None:
            s += "name:\t%s\n" % name
    return s


def grep_h(files: dict[str, str], root: str = "") -> str:
    """`grep -H '' FILE...` output: every line of every file prefixed with "PATH:"."""
    out = []
    for path, body in files.items():
        for line in body.split("\n")[:-1]:
            out.append(f"{root}{path}:{line}\n")
    return "".join(out)


def test_grep_section_two_processes_with_root():
    root = "/tmp/dev root"
    text = grep_h({
        "/proc/123/fdinfo/7": render_file(ino=168, size=11522048, count=8, exp="qcom,system", name="qcom,system"),
        "/proc/123/fdinfo/9": render_file(flags=0o2, ino=169, size=4096, count=1, exp="system"),
        "/proc/4567/fdinfo/12": render_file(ino=168, size=11522048, count=8, exp="qcom,system", name="G:screenshot"),
    }, root)
    r = fdinfo.parse_grep(text, root)
    assert r.problems == []
    assert [(f.pid, f.fd, f.inode, f.size, f.count, f.exporter, f.name, f.flags) for f in r.records] == [
        (123, 7, 168, 11522048, 8, "qcom,system", "qcom,system", 0o2000002),
        (123, 9, 169, 4096, 1, "system", None, 0o2),
        (4567, 12, 168, 11522048, 8, "qcom,system", "G:screenshot", 0o2000002),
    ]
    assert all(f.is_dmabuf for f in r.records)
    assert [f.line for f in r.records] == [1, 9, 16]


def test_pre_5_14_without_ino_and_a_reused_non_dmabuf_fd():
    text = grep_h({"/proc/5/fdinfo/3": render_file(size=4096, count=1, exp="ion"),
                   "/proc/5/fdinfo/4": render_file(ino=77)})
    r = fdinfo.parse_grep(text, "")
    a, b = r.records
    assert (a.inode, a.exporter, a.is_dmabuf) == (None, "ion", True)
    assert (b.inode, b.exporter, b.is_dmabuf, b.size) == (77, None, False, None)


def test_name_with_newline_joined_from_the_next_grep_line():
    # name "a\nsize:\t5" — the continuation looks like a key, but name: is the last line printed
    text = grep_h({"/proc/5/fdinfo/3": render_file(ino=2, size=4096, count=1, exp="system", name="a\nsize:\t5"),
                   "/proc/5/fdinfo/4": render_file(ino=3, size=8192, count=1, exp="system", name="b")})
    r = fdinfo.parse_grep(text, "")
    assert [(f.fd, f.size, f.name) for f in r.records] == [(3, 4096, "a\nsize:\t5"), (4, 8192, "b")]
    assert len(r.problems) == 1 and "newline" in r.problems[0].message


def test_overlong_tail_after_name_is_not_joined():
    text = grep_h({"/proc/5/fdinfo/3": render_file(ino=2, size=1, count=1, exp="x", name="n")})
    text += "/proc/5/fdinfo/3:vendor_field:\tsomething long enough to pass 31 bytes\n"
    r = fdinfo.parse_grep(text, "")
    assert r.records[0].name == "n"
    assert any("31-byte" in p.message for p in r.problems)


def test_locks_unknown_keys_and_bad_lines():
    text = grep_h({"/proc/5/fdinfo/3": render_file(ino=2, size=10, count=1, exp="x",
                                                   locks=["1: FLOCK  ADVISORY  WRITE 5 00:08:2 0 EOF"])})
    text += "garbage without root\n/proc/self/fdinfo/1:pos:\t0\n/proc/5/fdinfo/8:size:\tnotanumber\n"
    r = fdinfo.parse_grep(text, "")
    assert [(f.fd, f.size) for f in r.records] == [(3, 10), (8, None)]
    msgs = " | ".join(p.message for p in r.problems)
    assert "not /proc/<pid>/fdinfo/<fd>" in msgs and "not a number" in msgs


def test_root_is_stripped_exactly_and_foreign_lines_reported():
    root = "/x/proc/1"   # a root that itself looks like a proc path
    text = grep_h({"/proc/2/fdinfo/3": render_file(size=1, count=1, exp="e")}, root)
    r = fdinfo.parse_grep(text + "/proc/2/fdinfo/4:pos:\t0\n", root)
    assert [(f.pid, f.fd) for f in r.records] == [(2, 3)]
    assert any("root" in p.message for p in r.problems)


def test_duplicate_file_kept_once():
    body = render_file(size=1, count=1, exp="e")
    text = grep_h({"/proc/2/fdinfo/3": body}) * 2
    r = fdinfo.parse_grep(text, "")
    assert len(r.records) == 1 and any("twice" in p.message for p in r.problems)


def test_parse_one_pasted_sample_with_spaces():
    r = fdinfo.parse_one((DATA / "proc_fd_and_fdinfo_dmabuf_android16_qcom_notes.txt").read_text(), pid=1, fd=100)
    assert len(r.records) == 1
    f = r.records[0]
    assert (f.pid, f.fd, f.inode, f.size, f.count, f.exporter, f.name) == (1, 100, 168, 11522048, 8, "qcom,system",
                                                                          "qcom,system")


def test_parse_one_kernel_doc_example_and_two_files():
    text = "pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t63107\nsize:   32768\ncount:  2\nexp_name:  system-heap\n"
    r = fdinfo.parse_one(text + text.replace("63107", "63108"))
    assert [(f.inode, f.size, f.count, f.exporter, f.flags) for f in r.records] == [
        (63107, 32768, 2, "system-heap", 2), (63108, 32768, 2, "system-heap", 2)]


def test_huge_numbers_and_empty():
    text = "/proc/1/fdinfo/2:pos:\t" + "9" * 5000 + "\n/proc/1/fdinfo/2:size:\t" + "1" * 5000 + "\n"
    r = fdinfo.parse_grep(text, "")
    assert r.records[0].pos is None and r.records[0].size is None
    assert fdinfo.parse_grep("", "").records == []
    assert fdinfo.parse_one("").records == []


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["", "/r"]))
def test_arbitrary_text_never_raises(text, root):
    fdinfo.parse_grep(text, root)
    fdinfo.parse_one(text)
    fdinfo.parse_grep("/proc/1/fdinfo/2:" + text, root)


_name = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=31).filter(
    lambda s: len(s.encode()) <= 31 and "\\x" not in s)
_exp = st.text(st.characters(blacklist_characters="\n\r\x00\t ", blacklist_categories=("Cs", "Zs")),
               min_size=1, max_size=20)
_file = st.fixed_dictionaries({
    "pos": st.integers(0, 2**63), "flags": st.integers(0, 0o7777777), "mnt_id": st.integers(0, 2**31),
    "ino": st.one_of(st.none(), st.integers(0, 2**64)), "size": st.integers(0, 2**40),
    "count": st.integers(0, 2**20), "exp": st.one_of(st.none(), _exp), "name": st.one_of(st.none(), _name),
    "locks": st.lists(st.just("1: POSIX  ADVISORY  READ 1 00:08:2 0 EOF"), max_size=1)})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**5), _file), max_size=8,
                unique_by=lambda t: (t[0], t[1])), st.sampled_from(["", "/data/local/tmp/r oot"]))
def test_generated_sections_round_trip(files, root):
    text = grep_h({f"/proc/{pid}/fdinfo/{fd}": render_file(**f) for pid, fd, f in files}, root)
    r = fdinfo.parse_grep(text, root)
    want = [(pid, fd, f["pos"], f["flags"], f["mnt_id"], f["ino"],
             f["size"] if f["exp"] else None, f["count"] if f["exp"] else None, f["exp"],
             f["name"] if f["exp"] else None) for pid, fd, f in files]
    got = [(x.pid, x.fd, x.pos, x.flags, x.mnt_id, x.inode, x.size, x.count, x.exporter, x.name) for x in r.records]
    assert got == want
    assert all("newline" in p.message for p in r.problems)
