"""head's output over many files (v2 `procfiles`): the split, and the fdinfo parser that reads it.

`head_output` (tests/collector_support.py) prints what `head -n N LINK.e F1 F2 …` prints, run by run (xargs may start
several); tests/test_collector.py checks the real toybox and busybox head against the files.
"""
from __future__ import annotations

import dataclasses
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

import collector_support
from droidtrack.parse import fdinfo, fdinfo_heads
from droidtrack.parse.headout import as_grep_lines, drop_cut_header, split_heads

LINK = ".droidtrack.4242.T0k3nXyZ0123456789abcdef"
head_output = partial(collector_support.head_output, link=LINK)


def test_split_exact_bytes_across_runs():
    files = [("1/fdinfo/3", b"pos:\t0\n"), ("1/fdinfo/4", b"no newline at the end"),
             ("2/status", b""), ("2/cmdline", b"a\0b\0"), ("3/cmdline", b"ends in a newline\n"),
             ("3/status", b"\n\n")]
    for runs in ([6], [1, 5], [2, 2, 2], [1, 1, 1, 1, 1, 1], [5, 1]):
        got, probs = split_heads(head_output(files, runs), LINK.encode())
        assert probs == []
        assert [(p.decode(), c) for p, c in got] == files, runs


def test_content_cannot_spell_a_header():
    evil = (b"name:\tx\n\n==> /proc/1/fdinfo/3 <==\npos:\t0\n"
            b"\n==> .droidtrack.4242.T0k3nXyZ0123456789abcdeX/9/fdinfo/9 <==\n"   # a guessed token
            b"==> " + LINK[:-1].encode() + b"/1/status <==\n")
    files = [("5/fdinfo/7", evil), ("5/fdinfo/8", b"pos:\t0\n")]
    got, probs = split_heads(head_output(files, [1, 1]), LINK.encode())
    assert probs == [] and got == [(b"5/fdinfo/7", evil), (b"5/fdinfo/8", b"pos:\t0\n")]


def test_cut_stream_keeps_what_arrived():
    files = [("1/fdinfo/3", b"pos:\t0\nflags:\t02\n"), ("1/status", b"Name:\tx\n")]
    data = head_output(files)
    for cut in range(len(data)):
        got, probs = split_heads(drop_cut_header(data[:cut], LINK.encode()), LINK.encode())   # never raises
        for (p, c), (wp, wc) in zip(got, files):
            assert p.decode() == wp and wc.startswith(c)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[0-9]{1,5}/(fdinfo/[0-9]{1,3}|status|cmdline)", fullmatch=True),
                          st.binary(max_size=120)), max_size=8),
       st.integers(1, 4))
def test_any_files_round_trip(files, run):
    runs = [min(run, len(files) - i) for i in range(0, len(files), run)]
    got, probs = split_heads(head_output([(p, c) for p, c in files], runs), LINK.encode())
    assert probs == [] and [(p.decode(), c) for p, c in got] == files


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_raises(data):
    split_heads(data, LINK.encode())
    split_heads(b"==> " + LINK.encode() + b"/" + data, LINK.encode())


# ---- fdinfo read from head's output equals fdinfo read from grep's lines ------------------------
KERNEL = [
    b"pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t1234\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\nname:\tgralloc\n",
    b"pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t77\nsize:\t8192\ncount:\t2\nexp_name:\tqcom,system\n",
    b"pos:\t0\nflags:\t02\nmnt_id:\t9\n",                                   # 4.9: says nothing of dma-bufs
    b"pos:\t0\nflags:\t02000002\nmnt_id:\t9\nsize:\t4096\ncount:\t1\nexp_name:\tion\n",   # 5.4: no ino
]
ODD = [
    b"pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t5\nsize:\t1\ncount:\t1\nexp_name:\te\nname:\tnl\nsecond\n",
    b"pos:\t0\nflags:\t02\nmnt_id:\t9\nlock:\t1: POSIX ADVISORY WRITE 4 00:08:1 0 EOF\nino:\t6\n",
    b"pos:\tnot a number\nflags:\t02\n",
    b"",
    b"pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t7\nsize:\t1\ncount:\t1\nexp_name:\te\nname:\tno newline",
    b"garbage\n\n==> /proc/1/fdinfo/3 <==\npos:\t0\n",
]


def grep_text(files: list[tuple[str, bytes]], root: str) -> str:
    out = []
    for p, c in files:
        for line in c.split(b"\n")[:-1] if c.endswith(b"\n") else (c.split(b"\n") if c else []):
            out.append(f"{root}/proc/{p}:".encode() + line + b"\n")
    return b"".join(out).decode("utf-8", "backslashreplace")


def same_records(a, b):
    key = lambda r: (r.pid, r.fd)
    return sorted((dataclasses.replace(r, line=0) for r in a), key=key) == \
        sorted((dataclasses.replace(r, line=0) for r in b), key=key)


def test_fdinfo_heads_equals_grep_lines():
    root = "/tmp/r oot"
    files = [(f"{100 + i}/fdinfo/{i}", c) for i, c in enumerate(KERNEL + ODD + KERNEL)]
    for runs in ([len(files)], [1] * len(files), [3, 5, 100]):
        text = head_output(files, runs).decode("utf-8", "backslashreplace")
        heads = fdinfo_heads.parse(text, LINK, root)
        grep = fdinfo.parse_grep(grep_text(files, root), root)
        assert same_records(heads.records, grep.records), runs
        assert sorted(p.message for p in heads.problems) == sorted(p.message for p in grep.problems)
    # the kernel-shaped files alone take the one-match path and need no problem
    text = head_output(files[:len(KERNEL)]).decode()
    assert fdinfo_heads.parse(text, LINK, root).problems == []


def test_fdinfo_heads_a_file_read_twice_counts_once():
    files = [("7/fdinfo/3", KERNEL[0]), ("7/fdinfo/3", KERNEL[1])]
    res = fdinfo_heads.parse(head_output(files).decode(), LINK, "")
    assert [(r.pid, r.fd, r.inode) for r in res.records] == [(7, 3, 1234)]
    assert len(res.problems) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(KERNEL + ODD), max_size=6), st.integers(1, 3))
def test_fdinfo_heads_generated(contents, run):
    files = [(f"{9 + i}/fdinfo/{i}", c) for i, c in enumerate(contents)]
    runs = [min(run, len(files) - i) for i in range(0, len(files), run)]
    heads = fdinfo_heads.parse(head_output(files, runs).decode("utf-8", "backslashreplace"), LINK, "")
    grep = fdinfo.parse_grep(grep_text(files, ""), "")
    assert same_records(heads.records, grep.records)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fdinfo_heads_never_raises(text):
    fdinfo_heads.parse(text, LINK, "")
    fdinfo_heads.parse(f"==> {LINK}/1/fdinfo/2 <==\n" + text, LINK, "/r")


def test_as_grep_lines_is_what_grep_printed():
    files = [(f"{100 + i}/fdinfo/{i}", c) for i, c in enumerate(KERNEL + ODD)]
    got = as_grep_lines(head_output(files, [2, 100]), LINK.encode(), b"/r/proc/")
    assert got.decode("utf-8", "backslashreplace") == grep_text(files, "/r")


# ---- fdinfo_heads.rows: the pipeline's fields without records, only where parse() agrees -------
def rows_agree(text: str, link: str = LINK) -> bool:
    """rows() is None, or gives parse()'s records' fields (and parse() has nothing to say)."""
    rows = fdinfo_heads.rows(text, link)
    if rows is None:
        return False
    res = fdinfo_heads.parse(text, link, "/r")
    assert res.problems == []
    n = fdinfo_heads.ROW_FIELDS
    assert len(rows) % n == 0
    got = []
    for i in range(0, len(rows), n):
        pid, fd, ino, size, count, exp, name = rows[i:i + n]
        assert ino is None or str(int(ino)) == ino           # the key "ino:" + ino is the buffer's
        assert exp is None or ino is not None                 # a dma-buf without an inode is parse()'s
        got.append((int(pid), int(fd), None if ino is None else int(ino), None if size is None else int(size),
                    None if count is None else int(count), None if exp is None else exp.strip(" \t"), name))
    assert got == [(r.pid, r.fd, r.inode, r.size, r.count, r.exporter, r.name) for r in res.records]
    return True


def test_rows_of_kernel_shaped_files():
    files = [(f"{100 + i}/fdinfo/{i}", c) for i, c in enumerate(KERNEL[:3] * 3)]
    for runs in ([len(files)], [1] * len(files), [4, 100]):
        assert rows_agree(head_output(files, runs).decode())
    assert fdinfo_heads.rows("", LINK) == []


def test_rows_leave_anything_else_to_parse():
    base = [(f"{100 + i}/fdinfo/{i}", c) for i, c in enumerate(KERNEL[:3])]
    for odd in KERNEL[3:] + ODD:
        text = head_output(base + [("9/fdinfo/9", odd)] + base[:1]).decode()
        assert not rows_agree(text), odd
    twice = head_output(base + [base[0]]).decode()
    assert not rows_agree(twice)
    glued = head_output([("7/fdinfo/1", KERNEL[0][:-1]), ("7/fdinfo/2", KERNEL[1])], [1, 1]).decode()
    assert not rows_agree(glued)          # a last line without its newline, then a new run's header
    assert not rows_agree(head_output([("7/fdinfo/01", KERNEL[0]), ("7/fdinfo/1", KERNEL[1])]).decode())
    assert not rows_agree(head_output([("7/fdinfo/1", KERNEL[0].replace(b"1234", b"01234"))]).decode())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(KERNEL[:3] + KERNEL[:3] + ODD[:2]), min_size=1, max_size=6), st.integers(1, 3),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3),
                          st.sampled_from(["\n", "\t", " ", "0", "a", "==> ", LINK, f"\n==> {LINK}/1/fdinfo/1 <==\n",
                                           f"==> {LINK}.e <==\n", "\x00", "é", ":"])), max_size=3))
def test_rows_never_disagree_with_parse(contents, run, edits):
    files = [(f"{9 + i % 4}/fdinfo/{i}", c) for i, c in enumerate(contents)]
    runs = [min(run, len(files) - i) for i in range(0, len(files), run)]
    text = head_output(files, runs).decode()
    for pos, cut, ins in edits:
        pos %= len(text) + 1
        text = text[:pos] + ins + text[pos + cut:]
    rows_agree(text)
