"""The grep -H splitter every per-file section goes through."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse._lines import to_int
from droidtrack.parse.grepout import pid_of, proc_parts, split_grep
from droidtrack.model.problems import Problem


def test_match_lines_root_stripped_exactly():
    root = "/tmp/a:b root"          # a root with ':' and ' ' in it
    text = (f"{root}/proc/12/status:Name:\tsurface:flinger\n"
            f"{root}/sys/kernel/dma_heap/qcom,system-uncached/x:7\n"
            "/proc/13/status:Name:\tnot under root\n")
    probs: list[Problem] = []
    got = list(split_grep(text, root, problems=probs))
    assert got == [(1, "/proc/12/status", "Name:\tsurface:flinger"),
                   (2, "/sys/kernel/dma_heap/qcom,system-uncached/x", "7")]
    assert [p.line for p in probs] == [3]


def test_context_lines_with_dashes_in_paths():
    root = ""
    text = "\n".join([
        "/sys/x/system-uncached:match",
        "/sys/x/system-uncached-ctx: with - and :",
        "--",
        "/proc/5/smaps:7f00-7f10 rw-s 00000000 00:08 3 /dmabuf:a-b",
        "/proc/5/smaps-Rss:  4 kB",
        "/proc/5/smaps:7f20-7f30 rw-s 00000000 00:08 4 /dmabuf:",
        "/proc/5/smaps-Pss:  2 kB",
        "--",
        "/proc/6/smaps-Rss:  9 kB",      # a context line without its match line
    ]) + "\n"
    probs: list[Problem] = []
    got = list(split_grep(text, root, context=True, problems=probs))
    assert got == [
        (1, "/sys/x/system-uncached", "match", False),
        (2, "/sys/x/system-uncached", "ctx: with - and :", True),
        (4, "/proc/5/smaps", "7f00-7f10 rw-s 00000000 00:08 3 /dmabuf:a-b", False),
        (5, "/proc/5/smaps", "Rss:  4 kB", True),
        (6, "/proc/5/smaps", "7f20-7f30 rw-s 00000000 00:08 4 /dmabuf:", False),
        (7, "/proc/5/smaps", "Pss:  2 kB", True),
    ]
    assert [p.line for p in probs] == [9]


def test_pid_helpers():
    assert pid_of("/proc/123/fdinfo/4") == 123 and pid_of("/proc/123") == 123
    assert pid_of("/proc/self/status") is None and pid_of("/proc/１２/x") is None and pid_of("/sys/x") is None
    assert proc_parts("/proc/7/fdinfo/3") == (7, "fdinfo/3") and proc_parts("/proc/x/y") is None


def test_to_int_sign_rule():
    """_lines.to_int: unsigned unless signed=True; ASCII digits only; None, never a raise."""
    assert to_int(" 42\t") == 42 and to_int("007") == 7
    assert to_int("-5") is None and to_int("+5") is None          # a sign on a size/count: unreadable
    assert to_int(" -5 ", signed=True) == -5 and to_int("+5", signed=True) == 5
    assert to_int("-", signed=True) is None and to_int("--5", signed=True) is None and to_int("5-", signed=True) is None
    for bad in ("", " ", "1_0", "٣", "²", "1.0", "0x10", "1 2"):
        assert to_int(bad) is None and to_int(bad, signed=True) is None, bad
    assert to_int("9" * 5000) is None and to_int("-" + "9" * 5000, signed=True) is None


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["", "/r", "/r:x"]), st.booleans())
def test_arbitrary_text_never_raises(text, root, context):
    list(split_grep(text, root, context=context, problems=[]))


_content = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.sampled_from(["status", "maps", "fdinfo/3"]), _content),
                max_size=10), st.sampled_from(["", "/data/local/tmp/x y"]))
def test_generated_round_trip(items, root):
    text = "".join(f"{root}/proc/{pid}/{f}:{c}\n" for pid, f, c in items)
    probs: list[Problem] = []
    assert list(split_grep(text, root, problems=probs)) == [
        (i, f"/proc/{pid}/{f}", c) for i, (pid, f, c) in enumerate(items, 1)]
    assert probs == []


def test_pid_with_thousands_of_digits_is_not_a_pid():
    # int() refuses more than 4300 digits: such a path must be skipped, never raise
    from droidtrack.parse import maps
    huge = "9" * 5000
    assert pid_of(f"/proc/{huge}/maps") is None
    assert proc_parts(f"/proc/{huge}/maps") is None
    r = maps.parse_maps(f"/proc/{huge}/maps:1-2 rw-s 0 00:08 3 /dmabuf:a\n", "")
    assert r.records == [] and len(r.problems) == 1
