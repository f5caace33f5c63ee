"""Widgets: a table for thousands of rows updated in place, and the one-line bars (header, summary, coverage,
banner, replay slider). Each bar is a pure function `frame -> Text` plus a Static to show it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rich.text import Text
from textual import events
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from droidtrack.tui.state import Coverage, Frame
from droidtrack.tui.text import (Cell, fmt_age, fmt_bytes, fmt_clock, fmt_delta, lit, safe,
                                 sparkline, tag_bar, tag_style)


# -- cells -------------------------------------------------------------------------------------
def c_bytes(v: int | None) -> Cell:
    return Cell(fmt_bytes(v), sk=-1 if v is None else v, justify="right")


def c_int(v: int | None) -> Cell:
    return Cell("" if v is None else str(v), sk=-1 if v is None else v, justify="right")


def c_delta(v: int | None) -> Cell:
    style = "dim" if not v else ("bold red" if v > 0 else "green")
    return Cell(fmt_delta(v), sk=-(1 << 62) if v is None else v, style=style, justify="right")


def c_text(v: Any) -> Cell:
    """Device-controlled text, literal."""
    s = safe(v)
    return Cell(s, sk=s.lower())


def c_ident(v: tuple[int, str]) -> Cell:
    return Cell(v[1], sk=v[0], justify="right")


def c_tags(v: tuple[tuple[tuple[str, int], ...], int]) -> Cell:
    by_tag, total = v
    bar = tag_bar(by_tag, total, width=6)
    c = Cell(sk=by_tag[0][0] if by_tag else "")
    c.append_text(bar)
    return c


def c_tag(v: str) -> Cell:
    return Cell(safe(v), sk=v, style=tag_style(v))


def c_age(v: float | None) -> Cell:
    return Cell(fmt_age(v), sk=-1 if v is None else v, justify="right")


def c_spark(v: tuple[int, ...]) -> Cell:
    c = Cell(sk=v[-1] if v else 0)
    c.append_text(sparkline(v, width=16, style="cyan"))
    return c


def c_clock(v: float | None) -> Cell:
    return Cell(fmt_clock(v) if v else "", sk=v or 0)


def _num(v: Any) -> Any:
    return -1 if v is None else v


SORT_KEYS: dict[Callable, Callable[[Any], Any]] = {
    c_bytes: _num, c_int: _num, c_age: _num,
    c_delta: lambda v: -(1 << 62) if v is None else v,
    c_text: lambda v: safe(v).lower(),
    c_ident: lambda v: v[0],
    c_tags: lambda v: v[0][0][0] if v[0] else "",
    c_tag: lambda v: v or "",
    c_spark: lambda v: v[-1] if v else 0,
    c_clock: lambda v: v or 0,
}


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int
    render: Callable[[Any], Text]

    justify: str = ""

    def sort_key(self, v: Any) -> Any:
        return SORT_KEYS.get(self.render, _num)(v)


class LiveTable(ScrollView, can_focus=True):
    """A table for thousands of rows refreshed every second or two (Textual's line API).

    `sync(rows)` takes every row as raw values (key -> tuple, one value per column); a row is
    rendered to a Strip only when it is on screen and then reused until its values, its place
    (zebra, cursor) or the width change. A refresh therefore costs a tuple comparison per row, a
    sort when the sort column changed, and rendering the rows on screen that changed; nothing is
    rebuilt. The cursor stays on its row key across refreshes and re-sorts.

    Keys: up/down, PgUp/PgDn, Home/End, Enter (posts Selected). Mouse: click a row to put the
    cursor there, click it again (or double-click) to open it; click a header to sort by that
    column (again: reverse)."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; background: $surface; }
    LiveTable > .live-table--header { background: $panel; color: $text; text-style: bold; }
    LiveTable > .live-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    LiveTable > .live-table--cursor-blur { background: $block-cursor-blurred-background; }
    LiveTable > .live-table--odd { background: $surface-lighten-1; }
    """
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor", "live-table--cursor-blur",
                         "live-table--odd"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "Top", show=False),
        Binding("end", "edge(1)", "Bottom", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Selected(Message):
        """Enter (or a second click) on a row."""

        def __init__(self, table: "LiveTable", key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> "LiveTable":
            return self.table

    class Sorted(Message):
        def __init__(self, table: "LiveTable") -> None:
            super().__init__()
            self.table = table

    def __init__(self, cols: list[Col], *, sort_key: str | None = None, reverse: bool = True,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cols = cols
        self._colindex = {c.key: i for i, c in enumerate(cols)}
        self._raw: dict[str, tuple] = {}
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self._strips: dict[str, tuple] = {}       # key -> (raw, kind, width, Strip)
        self._header: tuple | None = None
        self.sort_key = sort_key
        self.reverse = reverse
        self.cursor_row = 0
        self.syncs = 0
        self.rebuilds = 0
        self.width_total = sum(c.width + 2 for c in cols)

    # -- data --------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._order)

    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    def raw(self, key: str) -> tuple | None:
        return self._raw.get(key)

    def current_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def cells_plain(self, key: str) -> list[str]:
        """What each cell of a row shows, as plain text (for tests and debugging)."""
        vals = self._raw[key]
        return [c.render(v).plain for c, v in zip(self.cols, vals)]

    def cell_text(self, key: str, col: str) -> Text:
        return self.cols[self._colindex[col]].render(self._raw[key][self._colindex[col]])

    def sync(self, rows: dict[str, tuple], *, rebuild: bool = False) -> None:
        """Show exactly `rows` (key -> raw values). `rebuild` drops every cached rendering
        (when the meaning of the rows changed, e.g. another grouping)."""
        self.syncs += 1
        cursor = self.current_key()
        old = self._raw
        si = self._colindex.get(self.sort_key) if self.sort_key else None
        if rebuild:
            self.rebuilds += 1
            self._strips.clear()
        resort = rebuild or len(rows) != len(old)
        if not resort:
            for k, vals in rows.items():
                ov = old.get(k)
                if ov is None or (si is not None and ov[si] != vals[si]):
                    resort = True
                    break
        self._raw = dict(rows)
        if resort:
            self._resort(cursor)
        else:
            self.refresh()
        if len(self._strips) > 4 * max(64, len(rows)):
            self._strips = {k: v for k, v in self._strips.items() if k in rows}

    def _resort(self, cursor: str | None) -> None:
        raw = self._raw
        if self.sort_key in self._colindex:
            i = self._colindex[self.sort_key]
            sk = self.cols[i].sort_key
            # ties keep a stable order by key, so equal rows do not jump between refreshes
            order = sorted(raw, key=lambda k: (sk(raw[k][i]), k) if not self.reverse else (sk(raw[k][i]), _Rev(k)),
                           reverse=self.reverse)
        else:
            order = list(raw)
        self._order = order
        self._pos = {k: n for n, k in enumerate(order)}
        if cursor is not None and cursor in self._pos:
            self.cursor_row = self._pos[cursor]
        self.cursor_row = max(0, min(self.cursor_row, len(order) - 1))
        self.virtual_size = Size(self.width_total, len(order) + 1)
        self._keep_cursor_visible()
        self.refresh()

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        if key not in self._colindex:
            return
        if reverse is None:
            reverse = (not self.reverse) if key == self.sort_key else True
        self.sort_key, self.reverse = key, reverse
        self._header = None
        self._resort(self.current_key())
        self.post_message(self.Sorted(self))

    def move_cursor(self, row: int) -> None:
        if not self._order:
            return
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        self._keep_cursor_visible()
        self.refresh()

    def _keep_cursor_visible(self) -> None:
        h = max(1, self.scrollable_content_region.height - 1)
        y = self.scroll_offset.y
        if self.cursor_row < y:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= y + h:
            self.scroll_to(y=self.cursor_row - h + 1, animate=False, immediate=True)

    # -- actions -----------------------------------------------------------------------------
    def action_cursor(self, d: int) -> None:
        self.move_cursor(self.cursor_row + d)

    def action_page(self, d: int) -> None:
        self.move_cursor(self.cursor_row + d * max(1, self.scrollable_content_region.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self._order) - 1 if end else 0)

    def action_select(self) -> None:
        k = self.current_key()
        if k is not None:
            self.post_message(self.Selected(self, k))

    def on_click(self, event: events.Click) -> None:
        x = event.x + self.scroll_offset.x
        if event.y == 0:
            edge = 0
            for c in self.cols:
                edge += c.width + 2
                if x < edge:
                    self.set_sort(c.key)
                    break
            return
        row = self.scroll_offset.y + event.y - 1
        if 0 <= row < len(self._order):
            again = row == self.cursor_row
            self.move_cursor(row)
            if again or event.chain >= 2:
                self.action_select()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- rendering ---------------------------------------------------------------------------
    def _row_text(self, vals: tuple) -> Text:
        t = Text(no_wrap=True, end="")
        for c, v in zip(self.cols, vals):
            ct = c.render(v)
            ct.truncate(c.width, overflow="ellipsis")
            pad = c.width - ct.cell_len
            t.append(" ")
            if pad > 0 and (ct.justify == "right" or c.justify == "right"):
                t.append(" " * pad)
                t.append_text(ct)
            else:
                t.append_text(ct)
                if pad > 0:
                    t.append(" " * pad)
            t.append(" ")
        return t

    def _strip(self, text: Text, style: Style, width: int) -> Strip:
        segs = list(text.render(self.app.console))
        strip = Strip(segs, text.cell_len).apply_style(style)
        return strip.extend_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        width = max(self.width_total, self.size.width)
        sx, sy = self.scroll_offset
        if y == 0:
            st = self.get_component_rich_style("live-table--header")
            hk = (width, self.sort_key, self.reverse, st)
            if self._header is None or self._header[0] != hk:
                t = Text(no_wrap=True, end="")
                for c in self.cols:
                    mark = ("▼" if self.reverse else "▲") if c.key == self.sort_key else ""
                    label = (c.label + mark)[: c.width]
                    if c.justify == "right" or c.render in _RIGHT:
                        label = label.rjust(c.width)
                    t.append(" " + label.ljust(c.width) + " ")
                self._header = (hk, self._strip(t, st, width))
            return self._header[1].crop(sx, sx + self.size.width)
        idx = sy + y - 1
        base = self.rich_style
        if idx >= len(self._order):
            return Strip.blank(self.size.width, base)
        key = self._order[idx]
        vals = self._raw[key]
        if idx == self.cursor_row:
            kind = "cursor" if self.has_focus else "cursor-blur"
        else:
            kind = "odd" if idx % 2 else "even"
        hit = self._strips.get(key)
        if hit is not None and hit[0] is vals and hit[1] == kind and hit[2] == width:
            strip = hit[3]
        else:
            if kind == "even":
                st = base
            else:
                st = base + self.get_component_rich_style(f"live-table--{kind}")
            strip = self._strip(self._row_text(vals), st, width)
            self._strips[key] = (vals, kind, width, strip)
        return strip.crop(sx, sx + self.size.width)


class _Rev(str):
    """A key that sorts backwards, so that ties keep key order when the sort is reversed."""
    __slots__ = ()

    def __lt__(self, other):  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other):  # type: ignore[override]
        return str.__lt__(self, other)


_RIGHT = {c_bytes, c_int, c_delta, c_ident, c_age}


# -- bars --------------------------------------------------------------------------------------
def header_text(label: str, frame: Frame | None, state: str, interval: float, kind: str) -> Text:
    """Connection state first (it must never be cut off), then the device."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" droidtrack top ", style="bold reverse")
    t.append(" ")
    style = {"live": "bold green", "paused": "bold yellow", "disconnected": "bold red",
             "connecting": "yellow", "replay": "cyan", "playing": "bold cyan"}.get(state, "")
    mark = {"live": "● live", "paused": "‖ paused", "disconnected": "✖ disconnected",
            "connecting": "… connecting", "replay": "‖ replay", "playing": "▶ replay"}.get(state, state)
    t.append(mark, style=style)
    if kind != "replay":
        t.append(f" every {interval:g}s")
    if frame is not None:
        t.append(f" {fmt_clock(frame.time)}", style="dim")
    t.append(" │ ", style="dim")
    if frame is None:
        t.append_text(lit(label))
        t.append(" · waiting for the first snapshot…", style="dim")
        return t
    d = frame.snapshot.device
    name = " ".join(x for x in (d.manufacturer, d.model) if x) or d.serial or label
    t.append_text(lit(name, "bold"))
    if d.serial:
        t.append(" (")
        t.append_text(lit(d.serial))
        t.append(")")
    if d.release or d.sdk:
        t.append(" · Android ")
        t.append_text(lit(d.release or "?"))
        if d.sdk:
            t.append(f" (API {d.sdk})")
    if d.kernel:
        t.append(" · kernel ")
        t.append_text(lit(d.kernel))
    if d.rooted is not None:
        t.append(" · root" if d.rooted else " · no root", style="green" if d.rooted else "yellow")
    return t


def summary_text(frame: Frame | None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if frame is None:
        return t
    tot = frame.acc.totals
    t.append("unique ", style="dim")
    t.append(fmt_bytes(tot.bytes), style="bold")
    t.append(f" ({tot.buffers} bufs) ", style="dim")
    t.append_text(sparkline(frame.total_spark, width=8, style="cyan"))
    for label, v in (("held", tot.userspace), ("ΣRSS", tot.sum_rss), ("ΣPSS", tot.sum_pss),
                     ("kernel-only", tot.kernel_only), ("fd-only", tot.fd_only)):
        t.append(f"  {label} ", style="dim")
        t.append(fmt_bytes(v), style="bold")
    t.append("  │ ", style="dim")
    for tr in frame.tags[:6]:
        t.append(safe(tr.key), style=tag_style(tr.key))
        t.append(f" {fmt_bytes(tr.bytes)} ")
    return t


_STATUS = {"ok": ("✓", "green"), "partial": ("◐", "yellow"), "denied": ("✗", "red"),
           "missing": ("–", "dim"), "not-mounted": ("–", "dim"), "error": ("✗", "red"),
           "skipped": ("○", "dim"), "truncated": ("✂", "red")}


def coverage_text(cov: Coverage | None, disconnected: bool = False) -> Text:
    t = Text(no_wrap=False, overflow="fold")
    t.append("coverage ", style="bold")
    if cov is None:
        t.append("nothing read yet", style="yellow")
        return t
    bad = 0
    for name, status, detail in cov.sources:
        mark, style = _STATUS.get(status, ("?", "yellow"))
        t.append_text(lit(name))
        t.append(" ")
        t.append(mark, style=style)
        if status != "ok":
            bad += status not in ("missing", "not-mounted", "skipped")
            t.append(status, style=style)
        t.append("  ")
    if not cov.sources:
        t.append("(the source said nothing about what it read) ", style="yellow")
    notes = []
    who = "no root: " if cov.rooted is False else ""
    if cov.fds_unreadable:
        notes.append((f"{who}fdinfo of {cov.fds_unreadable} of {cov.processes} processes unreadable",
                      "bold yellow"))
    if cov.maps_unreadable and cov.maps_unreadable != cov.fds_unreadable:
        notes.append((f"maps of {cov.maps_unreadable} processes unreadable", "yellow"))
    elif cov.maps_unreadable:
        notes.append(("their maps too", "yellow"))
    if cov.problems:
        notes.append((f"{cov.problems} problem{'s' if cov.problems != 1 else ''} (k lists them)", "yellow"))
    if not notes and not bad:
        notes.append(("everything readable was read", "green"))
    for text, style in notes:
        t.append("│ ", style="dim")
        t.append(text, style=style)
        t.append(" ")
    if disconnected:
        t.append("│ showing the last good snapshot", style="red")
    return t


def banner_text(message: str, retry_in: float, failures: int, last: float | None) -> Text:
    t = Text(no_wrap=False, overflow="fold")
    t.append(" ⚠ connection lost: ", style="bold")
    t.append_text(lit(message))
    t.append(f" — retry #{failures} in {retry_in:g}s")
    if last is not None:
        t.append(f"; showing the snapshot of {fmt_clock(last)}, history kept")
    return t


def slider_text(pos: int, n: int, t: float | None, width: int) -> Text:
    out = Text(no_wrap=True)
    out.append(f" {pos + 1}/{n} ", style="bold")
    bar = max(10, width - 60)
    at = 0 if n <= 1 else round(pos * (bar - 1) / (n - 1))
    out.append("━" * at, style="cyan")
    out.append("●", style="bold cyan")
    out.append("─" * (bar - 1 - at), style="dim")
    out.append(f" {fmt_clock(t)} ", style="bold")
    out.append(" [ ] step  { } ±10  click to jump  p play", style="dim")
    return out


class Bar(Static):
    """A one-line (or wrapping) Static shown from a Text."""


class Slider(Bar):
    """The replay position; a click jumps there."""

    class Jump(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def on_click(self, event: events.Click) -> None:
        width = self.size.width
        bar = max(10, width - 60)
        # the bar starts after " i/n " (variable); approximate from the rendered text
        start = len(str(getattr(self, "_prefix", ""))) or 8
        x = event.x - start
        if 0 <= x < bar:
            self.post_message(self.Jump(x / max(1, bar - 1)))
