"""Device strings are shown literally: no markup, no terminal escapes, no invisible reordering."""
from __future__ import annotations

import re

from hypothesis import given, strategies as st
from rich.console import Console

from droidtrack.tui.text import Cell, fmt_age, fmt_bytes, fmt_delta, lit, safe, sparkline, tag_bar


def test_escape_sequences_become_visible_text():
    assert safe("a\x1b[31mred") == "a\\x1b[31mred"
    assert safe("tab\there\nnl\r") == "tab\\there\\nnl\\r"
    assert safe("\x00\x7f\x9b") == "\\x00\\x7f\\x9b"
    assert safe("evil\u202etxt.exe") == "evil\\u202etxt.exe"     # right-to-left override
    assert safe("zero\u200bwidth") == "zero\\u200bwidth"
    assert safe("ok: com.example.app:remote é 中") == "ok: com.example.app:remote é 中"
    assert safe(None) == ""


def test_markup_is_not_interpreted():
    t = lit("[bold red]pwn[/] [link=http://x]y")
    assert t.plain == "[bold red]pwn[/] [link=http://x]y"
    assert not t.spans and t.style == ""


def test_rendered_output_has_no_escape_bytes():
    console = Console(force_terminal=True, color_system="truecolor", width=80)
    with console.capture() as cap:
        console.print(lit("x\x1b]0;owned\x07y\x1b[2J"))
    out = cap.get()
    # the only ESC bytes are the console's own SGR codes, never the name's OSC/clear-screen
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\x07" not in out
    assert "x\\x1b]0;owned\\x07y\\x1b[2J" in re.sub(r"\x1b\[[0-9;]*m", "", out)


@given(st.text())
def test_safe_leaves_no_control_characters(s):
    out = safe(s)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", out)
    assert lit(s).plain == out


def test_sizes():
    # the one formatter's compact form: IEC units, at most 7 characters (8 with a sign)
    assert fmt_bytes(0) == "0B"
    assert fmt_bytes(512) == "512B"
    assert fmt_bytes(4096) == "4.0KiB"
    assert fmt_bytes(12 * 2**20 + 2**19) == "12.5MiB"
    assert fmt_bytes(150 * 2**20) == "150MiB"
    assert fmt_bytes(3 * 2**30) == "3.0GiB"
    assert fmt_bytes(None) == "?"
    assert fmt_delta(-2**20) == "-1.0MiB" and fmt_delta(2**20) == "+1.0MiB" and fmt_delta(0) == "·"
    assert fmt_age(59) == "59s" and fmt_age(61) == "1m01s" and fmt_age(3 * 3600 + 60) == "3h01m"


def test_cell_sorts_by_its_value():
    cells = [Cell("1.0M", sk=2**20), Cell("512B", sk=512), Cell("2.0G", sk=2 * 2**30)]
    assert [c.plain for c in sorted(cells, key=lambda c: c.sk)] == ["512B", "1.0M", "2.0G"]


def test_sparkline_and_tag_bar():
    s = sparkline([0, 1, 2, 3, 4, 5, 6, 7], width=8)
    assert s.plain == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5], width=4).plain == "  ▁▁"
    bar = tag_bar((("camera", 75), ("gl", 25)), 100, width=8)
    assert bar.plain.startswith("████████ camera")
    assert tag_bar((), 0).plain == ""
    assert tag_bar((("[b]x\x1b", 1),), 1, width=2).plain == "██ [b]x\\x1b"
