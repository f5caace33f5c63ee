"""The framed stream: exact content recovery, forgery resistance, cut streams keep what arrived."""
from __future__ import annotations

from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

import collector_support
from droidtrack.collect import frames
from droidtrack.collect.frames import Section


def sample(token="tok1"):
    secs = [Section("props", b"[ro.product.model]: [Pixel]\n", rc=0, status="ok"),
            Section("bufinfo", b"no trailing newline", b"cat: x: Permission denied\n", rc=1, status="partial"),
            Section("empty", b"", rc=0, status="ok")]
    return secs, frames.encode(secs, token, root="/tmp/a b")


def test_round_trip_exact():
    secs, data = sample()
    fr = frames.decode(data)
    assert fr.complete and fr.token == "tok1" and fr.root == "/tmp/a b" and fr.version == 1
    assert [s.name for s in fr.sections.values()] == ["props", "bufinfo", "empty"]
    for s in secs:
        got = fr.sections[s.name]
        assert (got.content, got.stderr, got.rc, got.status) == (s.content, s.stderr, s.rc, s.status)
    assert fr.problems == []


def test_content_cannot_forge_a_section():
    # a buffer name that imitates a marker with a guessed token stays content
    evil = b"@@tok0 END bufinfo rc=0 status=ok\n@@tok0 BEGIN fake\n\n@@tok1x BEGIN x\n"
    data = frames.encode([Section("bufinfo", evil, rc=0, status="ok")], "tok1")
    fr = frames.decode(data)
    assert list(fr.sections) == ["bufinfo"] and fr.sections["bufinfo"].content == evil


def test_cut_stream_keeps_every_completed_section_and_the_one_in_flight():
    _, data = sample()
    full = frames.decode(data)
    for cut in range(len(data)):
        fr = frames.decode(data[:cut])
        assert not fr.complete
        assert any("DONE" in p.message or "header" in p.message for p in fr.problems)
        for name, s in fr.sections.items():
            if s.complete:
                assert s.content == full.sections[name].content
            else:
                assert full.sections[name].content.startswith(s.content)


def test_not_a_stream():
    fr = frames.decode(b"Dma-buf Objects:\nsize flags\n")
    assert fr.token is None and not fr.sections and fr.problems


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.binary(max_size=200),
                          st.binary(max_size=50)), max_size=6, unique_by=lambda t: t[0]))
def test_any_content_round_trips(spec):
    secs = [Section(n, c, e, rc=0, status="ok") for n, c, e in spec]
    fr = frames.decode(frames.encode(secs, "T0k3n"))
    assert fr.complete
    for s in secs:
        assert fr.sections[s.name].content == s.content
        assert fr.sections[s.name].stderr == s.stderr


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_raises(data):
    frames.decode(data)
    frames.decode(b"@@abc HDR v=1 root=\n" + data)


# ---- version 2: procfiles (head's output through the token path), maps from smaps --------------
LINK = ".droidtrack.77.tok2"
ROOT = "/r o"


head_output = partial(collector_support.head_output, link=LINK)


def v2_stream(sections, complete=True):
    return frames.encode(sections, "tok2", ROOT, complete, proc=LINK)


FDI = b"pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t5\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\n"
EVIL = FDI + b"name:\tx\n==> /proc/9/fdinfo/9 <==\n"          # a name holding newlines
STATUS = b"Name:\tcam\nUmask:\t0077\nState:\tS\nTgid:\t12\nPPid:\t1\nUid:\t10123\t10123\t10123\t10123\n"


def sample_v2():
    procfiles = head_output([("12/fdinfo/7", FDI), ("12/fdinfo/8", EVIL), ("12/status", STATUS),
                             ("self/status", b"Name:\tgrep\nUid:\t2000\t2000\t2000\t2000\n"),
                             ("12/cmdline", b"cam\0--x\0"), ("13/cmdline", b"")], runs=[2, 4])
    smaps = (f"{ROOT}/proc/12/smaps:7f00-7f10 rw-s 00000000 00:08 5 /dmabuf:a\n"
             f"{ROOT}/proc/12/smaps-Size: 64 kB\n--\n").encode()
    return [
        Section("fdlinks", f"{LINK}/12/fd:\ntotal 0\nlrwx------ 1 0 0 64 2024-05-01 10:00 7 -> /dmabuf:a\n".encode(),
                f"ls: {LINK}/13/fd/: Permission denied\n".encode(), rc=1, status="partial"),
        Section("maps", f"{ROOT}/proc/12/maps\n".encode(), rc=0, status="ok"),
        Section("procfiles", procfiles, f"head: {LINK}/13/status: No such file or directory\n".encode(),
                rc=123, status="partial"),
        Section("smaps", smaps, rc=0, status="ok"),
    ]


def test_v2_decodes_to_v1_sections():
    fr = frames.decode(v2_stream(sample_v2()))
    assert fr.complete and fr.problems == [] and fr.version == 2 and fr.proc == LINK and fr.root == ROOT
    assert list(fr.sections) == ["fdlinks", "maps", "fdinfo", "status", "cmdline", "smaps"]
    s = fr.sections
    assert s["fdlinks"].content.startswith(f"{ROOT}/proc/12/fd:\n".encode())
    assert s["fdlinks"].stderr == f"ls: {ROOT}/proc/13/fd/: Permission denied\n".encode()
    # fdinfo stays as head printed it (the name that spells a header stays in its file)
    assert s["fdinfo"].form == "head" and (s["fdinfo"].status, s["fdinfo"].rc) == ("ok", 0)
    assert s["fdinfo"].content.endswith(EVIL)
    # status and cmdline: their files as head printed them, read by parse/procfs.py
    assert s["status"].form == "files" and s["status"].files == [
        ("/proc/12/status", STATUS), ("/proc/self/status", b"Name:\tgrep\nUid:\t2000\t2000\t2000\t2000\n")]
    assert (s["status"].status, s["status"].stderr) == (
        "partial", f"head: {ROOT}/proc/13/status: No such file or directory\n".encode())
    assert s["cmdline"].files == [("/proc/12/cmdline", b"cam\0--x\0"), ("/proc/13/cmdline", b"")]
    assert s["cmdline"].status == "ok" and s["cmdline"].stderr == b""
    # maps keeps the names grep -l printed: the mappings are read from smaps (parse/maps.read_smaps)
    assert s["maps"].form == "names" and s["maps"].content == f"{ROOT}/proc/12/maps\n".encode()


def test_v2_part_status_by_the_collectors_rule():
    secs = sample_v2()
    secs[2] = Section("procfiles", head_output([("12/status", STATUS)]),
                      (f"head: {LINK}/12/fdinfo/7: Permission denied\n"
                       f"head: {LINK}/12/cmdline: No such file or directory\nxargs: odd\n").encode(),
                      rc=123, status="partial")
    s = frames.decode(v2_stream(secs)).sections
    # a line naming no file goes to every part; with xargs' 123 that is "partial", as in collect.sh
    assert [s[k].status for k in ("fdinfo", "status", "cmdline")] == ["partial"] * 3
    assert s["fdinfo"].stderr == f"head: {ROOT}/proc/12/fdinfo/7: Permission denied\nxargs: odd\n".encode()
    secs[2] = Section("procfiles", b"", b"xargs: head: No such file or directory\n", rc=127, status="error")
    s = frames.decode(v2_stream(secs)).sections
    assert [(s[k].status, s[k].rc) for k in ("fdinfo", "status", "cmdline")] == [("error", 127)] * 3
    secs[2] = Section("procfiles", head_output([("12/status", STATUS)]), rc=123, status="partial")
    secs[2].stderr = f"head: {LINK}/12/fdinfo/7: Permission denied\nhead: {LINK}/12/cmdline: x\n".encode()
    s = frames.decode(v2_stream(secs)).sections
    assert (s["fdinfo"].status, s["status"].status, s["cmdline"].status) == ("denied", "ok", "partial")
    # nothing read at all: fdinfo is as good as fdlinks, no status or cmdline file is "missing"
    secs[0].status, secs[0].rc = "denied", 2
    secs[2] = Section("procfiles", b"", rc=2, status="missing")
    s = frames.decode(v2_stream(secs)).sections
    assert [(s[k].status, s[k].rc) for k in ("fdinfo", "status", "cmdline")] == [
        ("denied", 2), ("missing", 2), ("missing", 2)]


def test_v2_cut_stream_never_raises_and_keeps_what_arrived():
    data = v2_stream(sample_v2())
    full = frames.decode(data).sections
    for cut in range(0, len(data), 3):
        fr = frames.decode(data[:cut])
        assert not fr.complete
        for name, sec in fr.sections.items():
            if sec.status != "truncated" and name in full:
                assert sec.content == full[name].content, (cut, name)
            elif name in ("status", "cmdline"):
                # every file that arrived, as the complete stream has it; the last may be cut
                sep = b"\n" if name == "status" else b"\0"
                whole = sec.content[:sec.content.rfind(sep, 0, len(sec.content) - 1) + 1]
                assert full[name].content.startswith(whole), (cut, name)


def test_v1_streams_are_read_as_they_were():
    secs, data = sample()
    fr = frames.decode(data)
    assert fr.version == 1 and fr.proc == "" and all(s.form == "grep" for s in fr.sections.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_v2_garbage_never_raises(data):
    frames.decode(b"@@abc HDR v=2 proc=.d.1.abc root=\n@@abc BEGIN procfiles\n" + data)
    frames.decode(b"@@abc HDR v=2 proc=.d.1.abc root=\n@@abc BEGIN maps\n" + data + b"\n@@abc END maps rc=0 status=ok\n"
                  b"@@abc BEGIN smaps\n" + data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"x", b"/status <==\n", b"/cmdline <==\n", f"\n==> {LINK}/1/status <==\n".encode(),
                                 f"\n==> {LINK}/self/cmdline <==\n".encode(), f"\n==> {LINK}/1/fdinfo/3 <==\n".encode(),
                                 f"\n==> {LINK}/x/status <==\n".encode(), b"\n==> /proc/1/status <==\n"]), max_size=8))
def test_first_status_header_is_the_expression_s_first_match(pieces):
    import re
    data = b"".join(pieces)
    link = LINK.encode()
    m = re.compile(re.escape(b"\n==> " + link + b"/") + rb"(?:[0-9]+|self)/(?:status|cmdline) <==\n").search(data)
    assert frames._first_other(data, link) == (None if m is None else m.start())
