"""The framed stream: exact content recovery, forgery resistance, cut streams keep what arrived."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack import frames
from droidtrack.frames import Section


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
