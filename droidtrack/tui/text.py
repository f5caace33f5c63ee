"""Rendering helpers. Every string that came from the device (process names, buffer names,
exporters, attached devices, error messages quoting them) goes through `safe()` and into a
`rich.text.Text` built without markup parsing, so `[bold]` stays literal text and an ESC byte shows
as the four characters `\\x1b` instead of reaching the terminal."""
from __future__ import annotations

import time

from rich.text import Text

from droidtrack.model.units import human_size
from droidtrack.present.text import safe

__all__ = ["safe", "lit", "Cell", "plural"]


def lit(s: object, style: str = "") -> Text:
    """Literal text (never markup) from a device-controlled value."""
    return Text(safe(s), style=style, no_wrap=True, overflow="ellipsis")


class Cell(Text):
    """A table cell that carries the value it sorts by."""
    __slots__ = ("sk",)

    def __init__(self, text: str = "", sk: object = 0, style: str = "", justify=None) -> None:
        super().__init__(text, style=style, justify=justify, no_wrap=True, overflow="ellipsis")
        self.sk = sk


_PLURALS = {"process": "processes"}


def plural(n: int, word: str) -> str:
    """"1 process", "2 processes", "0 buffers": a count with its noun in the right number."""
    return f"{n} {word if n == 1 else _PLURALS.get(word, word + 's')}"


def fmt_bytes(n: int | None) -> str:
    """A size in a TUI column: `droidtrack.model.units.human_size` in its compact form (12.3MiB, 118MiB,
    0B: at most 7 characters); an unknown size shows '?'."""
    return human_size(n, compact=True, none="?")


def fmt_delta(n: int | None) -> str:
    if n is None:
        return ""
    if n == 0:
        return "·"
    return human_size(n, signed=True, compact=True)


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_clock(t: float | None) -> str:
    if t is None:
        return "?"
    return time.strftime("%H:%M:%S", time.localtime(t))


def fmt_datetime(t: float | None) -> str:
    if t is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


TAG_STYLES = {
    "camera": "magenta", "gl": "green", "graphics": "cyan", "multimedia": "yellow",
    "display": "blue", "other": "bright_black",
}
_EXTRA = ("red", "bright_green", "bright_cyan", "bright_magenta", "bright_yellow", "bright_blue")


def tag_style(tag: str) -> str:
    st = TAG_STYLES.get(tag)
    if st is None:
        st = _EXTRA[sum(map(ord, tag)) % len(_EXTRA)]
    return st


def tag_bar(by_tag: tuple[tuple[str, int], ...], total: int, width: int = 10) -> Text:
    """A small stacked bar of the tags' shares, widest first, plus the top tag's name."""
    t = Text(no_wrap=True, overflow="ellipsis")
    if total <= 0 or not by_tag:
        return t
    used = 0
    for i, (tag, n) in enumerate(by_tag):
        cells = round(width * n / total) if i < len(by_tag) - 1 else width - used
        cells = max(0, min(cells, width - used))
        if cells:
            t.append("█" * cells, style=tag_style(tag))
            used += cells
    if used < width:
        t.append(" " * (width - used))
    t.append(" ")
    t.append(safe(by_tag[0][0]), style=tag_style(by_tag[0][0]))
    return t


_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 16, style: str = "") -> Text:
    vals = list(values)[-width:]
    if not vals:
        return Text(" " * width)
    lo, hi = min(vals), max(vals)
    span = hi - lo
    chars = []
    for v in vals:
        i = 0 if span == 0 else round((v - lo) * (len(_SPARK) - 1) / span)
        chars.append(_SPARK[i] if (span or v) else " ")
    s = "".join(chars).rjust(width)
    return Text(s, style=style, no_wrap=True)

