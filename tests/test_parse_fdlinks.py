"""fdlinks: `ls -l ROOT/proc/[0-9]*/fd/` as toybox, busybox and GNU ls really print it."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import fdlinks
from parsed import fast_agrees

SAMPLE = """\
/proc/1234/fd:
total 0
lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 0 -> /dev/null
lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 17 -> /dmabuf:qcom,system
lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 18 -> anon_inode:sync_file
lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 19 -> /dmabuf:
lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 20 -> /dmabuf:a b: c -> d

/proc/99/fd:
total 0
lrwx------ 1 system system 64 2024-05-01 10:00 3 -> anon_inode:dmabuf
lrwx------ 1 system system 64 2024-05-01 10:00 4 -> /dmabuf (deleted)
"""


def test_toybox_style_listing():
    r = fdlinks.parse(SAMPLE, "")
    assert [(x.pid, x.fd, x.name, x.legacy) for x in r.records] == [
        (1234, 17, "qcom,system", False), (1234, 19, None, False), (1234, 20, "a b: c -> d", False),
        (99, 3, None, True), (99, 4, None, True)]
    assert r.listed_pids == {1234, 99}
    assert r.other_fds == {1234: 2}
    assert r.problems == []


def test_gnu_dates_root_prefix_and_lone_dir_listed_twice():
    root = "/tmp/my root"
    one = (f"{root}/proc/5/fd/:\ntotal 0\n"
           "lrwx------ 1 root root 64 Nov 26 01:03 7 -> /dmabuf:cam\n"
           "lrwx------ 1 root root 64 Nov 26  2023 8 -> /dmabuf:old\n")
    r = fdlinks.parse(one + "\n" + one, root)
    assert [(x.pid, x.fd, x.name) for x in r.records] == [(5, 7, "cam"), (5, 8, "old")]
    assert r.problems == []


def test_unreadable_links_gnu_style_are_counted_apart():
    text = "/proc/1/fd/:\ntotal 0\nlrwx------ 1 root root 64 Nov 26 01:04 0\nl-wx------ 1 root root 64 Nov 26 01:04 1\n"
    r = fdlinks.parse(text, "")
    assert r.records == [] and r.unreadable_fds == {1: 2} and r.other_fds == {}


def test_name_with_newline_joined_within_31_bytes():
    text = ("/proc/7/fd:\ntotal 0\n"
            "lrwx------ 1 a a 64 2024-05-01 10:00 3 -> /dmabuf:two\n"
            "lines\n"
            "lrwx------ 1 a a 64 2024-05-01 10:00 4 -> /dmabuf:x\n"
            "this continuation is far too long for a dma-buf name\n")
    r = fdlinks.parse(text, "")
    assert [(x.fd, x.name) for x in r.records] == [(3, "two\nlines"), (4, "x")]
    msgs = [p.message for p in r.problems]
    assert any("newline" in m for m in msgs) and any("too long" in m for m in msgs)


def _forged(fake_pid: int) -> str:
    # pid 300 holds a buffer named "x\n\n/proc/<fake>/fd:\ntotal 0" (at most 31 bytes)
    return ("/proc/300/fd:\ntotal 0\n"
            f"lrwx------ 1 a a 64 2024-05-01 10:00 3 -> /dmabuf:x\n\n/proc/{fake_pid}/fd:\ntotal 0\n"
            "lrwx------ 1 a a 64 2024-05-01 10:00 4 -> /dmabuf:real one of 300\n"
            "\n/proc/400/fd:\ntotal 0\n"
            "lrwx------ 1 b b 64 2024-05-01 10:00 9 -> /dmabuf:ok\n")


def test_forged_header_sorting_after_its_listing_is_caught_at_the_next_header():
    r = fdlinks.parse(_forged(5), "")          # "/proc/5/fd" sorts after "/proc/400/fd"
    assert [(x.pid, x.fd) for x in r.records] == [(300, 3)]   # nothing attributed to pid 5
    assert r.listed_pids == {300}
    assert any("out of sorted order" in p.message for p in r.problems)


def test_forged_header_sorting_before_its_listing_is_caught_at_once():
    r = fdlinks.parse(_forged(1000), "")       # "/proc/1000/fd" sorts before "/proc/300/fd"
    assert [(x.pid, x.fd) for x in r.records] == [(400, 9)]
    assert r.listed_pids == {400}


def test_garbage_and_lines_before_header():
    r = fdlinks.parse("lrwx------ 1 a a 64 2024-05-01 10:00 3 -> /dmabuf:x\nhello\n/proc/abc/fd:\n", "")
    assert r.records == [] and len(r.problems) == 3


@pytest.mark.parametrize("ls", [["toybox", "ls"], ["busybox", "ls"], ["ls"]])
def test_real_ls_output(tmp_path, ls):
    if shutil.which(ls[0]) is None:
        pytest.skip(f"{ls[0]} not installed")
    names = {3: "/dmabuf:gralloc:GL", 4: "/dmabuf:", 5: "anon_inode:dmabuf", 6: "/dev/null",
             7: "/dmabuf:sp ace -> x", 8: "/dmabuf:[b]markup[/b]\x1b[31m"}
    for pid in (12, 104):
        d = tmp_path / "proc" / str(pid) / "fd"
        d.mkdir(parents=True)
        for fd, target in names.items():
            os.symlink(target, d / str(fd))
    root = str(tmp_path)
    dirs = sorted(str(p) + "/" for p in (tmp_path / "proc").glob("*/fd"))
    text = subprocess.run(ls + ["-l"] + dirs, capture_output=True, env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
                          check=True).stdout.decode("utf-8", "backslashreplace")
    r = fdlinks.parse(text, root)
    esc = "?" if ls[0] == "busybox" else "\x1b"   # busybox ls prints control characters as '?'
    want = []
    for pid in (104, 12):   # ls sorts its arguments bytewise: "104" < "12"
        want += [(pid, 3, "gralloc:GL", False), (pid, 4, None, False), (pid, 5, None, True),
                 (pid, 7, "sp ace -> x", False), (pid, 8, "[b]markup[/b]" + esc + "[31m", False)]
    assert [(x.pid, x.fd, x.name, x.legacy) for x in r.records] == want
    assert r.other_fds == {12: 1, 104: 1} and r.listed_pids == {12, 104}
    assert r.problems == []


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["", "/r"]))
def test_arbitrary_text_never_raises(text, root):
    fdlinks.parse(text, root)
    fdlinks.parse("/proc/1/fd:\ntotal 0\n" + text, root)


_name = st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), max_size=31).filter(
    lambda s: len(s.encode()) <= 31)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.integers(1, 10**6), st.dictionaries(st.integers(0, 65535), _name, max_size=6),
                       max_size=5),
       st.sampled_from(["toybox", "gnu"]))
def test_generated_listings_round_trip(procs, style):
    out = []
    for pid in sorted(procs, key=lambda p: f"/proc/{p}/fd/"):
        out.append(f"/proc/{pid}/fd{'/' if style == 'gnu' else ''}:\ntotal 0\n")
        for fd in sorted(procs[pid], key=str):
            date = "2024-05-01 10:00" if style == "toybox" else "May  1 10:00"
            out.append(f"lrwx------ 1 u0_a1 u0_a1 64 {date} {fd} -> /dmabuf:{procs[pid][fd]}\n")
        out.append("\n")
    r = fdlinks.parse("".join(out), "")
    got = {(x.pid, x.fd): x.name for x in r.records}
    want = {(pid, fd): (n or None) for pid, fds in procs.items() for fd, n in fds.items()}
    assert got == want and r.problems == []


# ---- dmabuf_fds(): the pipeline's per-directory dma-buf fds, only where parse() agrees ----------
def _same_fds(dirs, r) -> None:
    listed = {pid for pid, _ in dirs}
    assert listed == r.listed_pids and list(listed) == list(r.listed_pids)
    links: dict[int, dict[int, bool]] = {}
    for x in r.records:
        links.setdefault(x.pid, {})[x.fd] = x.legacy
    assert [(pid, d) for pid, d in dirs if d] == list(links.items())


def fds_agree(text: str, root: str) -> bool:
    return fast_agrees(fdlinks.dmabuf_fds, fdlinks.parse, text, root, _same_fds)


def test_dmabuf_fds_of_plain_listings():
    assert fds_agree(SAMPLE.replace("/proc/99/", "/proc/990/"), "")
    assert fdlinks.dmabuf_fds(SAMPLE.replace("/proc/99/", "/proc/990/"), "") == [
        (1234, {17: False, 19: False, 20: False}), (990, {3: True, 4: True})]
    assert fdlinks.dmabuf_fds("", "/r") == []
    busybox = "/r/proc/5/fd/:\ntotal 0\nlrwx------    1 0        0               64 Nov 26 01:12 3 -> /dmabuf:x\n"
    assert fds_agree(busybox, "/r") and fds_agree(busybox + "\n/r/proc/6/fd/:\ntotal 0\n", "/r")


def test_dmabuf_fds_leave_anything_else_to_parse():
    good = SAMPLE.replace("/proc/99/", "/proc/990/")
    for old, new in (("/proc/990/", "/proc/1000/"),                # headers out of order (ls sorts names)
                     ("/proc/990/", "/proc/1234/"),                # a directory twice
                     ("-> /dev/null", "-> /dmabuf:x\nsecond line"),  # a name holding a newline
                     (" 3 -> ", " 03 -> "), (" 18 -> ", " 17 -> "),
                     ("total 0\n", ""), ("\n\n", "\n\n\n"), ("lrwx", "-rw-")):
        assert old in good, old
        assert not fds_agree(good.replace(old, new, 1), ""), (old, new)
    assert fdlinks.dmabuf_fds(good.replace("/proc/", "l/proc/"), "l") is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 99999), st.lists(st.tuples(st.integers(0, 999), st.sampled_from(["", "a", "x\ny"]),
                                                                    st.sampled_from(["/dmabuf:", "/dev/", "anon_inode:", "",
                                                                                     "/dmabuf (deleted)"])),
                                                          max_size=5)), max_size=5),
       st.sampled_from(["", "/r"]), st.booleans(),
       st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 3), st.sampled_from(["\n", " ", "0", "/dmabuf:", "l"])),
                max_size=2))
def test_dmabuf_fds_never_disagree(dirs, root, gnu, edits):
    out = []
    for pid, links in sorted(dirs, key=lambda d: str(d[0])):
        out += [f"{root}/proc/{pid}/fd" + ("/:" if gnu else ":"), "total 0"]
        date = "Nov 26 01:18" if gnu else "2024-05-01 10:00"
        out += [f"lrwx------ 1 u0_a1 u0_a1 64 {date} {fd} -> {kind}{name}" for fd, name, kind in links]
        out.append("")
    text = "\n".join(out)
    for pos, cut, ins in edits:
        pos %= len(text) + 1
        text = text[:pos] + ins + text[pos + cut:]
    fds_agree(text, root)
