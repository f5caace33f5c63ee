"""Widgets: a DataTable updated in place, and the one-line bars (header, summary, coverage,
banner, replay slider). Each bar is a pure function `frame -> Text` plus a Static to show it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey, RowKey

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


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int
    render: Callable[[Any], Cell]


class LiveTable(DataTable):
    """A DataTable fed whole row sets (`sync`) and updated in place: only cells whose raw value
    changed are touched, rows that vanished are removed, new rows are added, then the table is
    re-sorted. The cursor stays on the same row key. A wholesale change (a new filter, another
    grouping) rebuilds instead, which is cheaper than thousands of single removals."""

    class Sorted(Message):
        def __init__(self, table: "LiveTable") -> None:
            super().__init__()
            self.table = table

    def __init__(self, cols: list[Col], *, sort_key: str | None = None, reverse: bool = True,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.cols = cols
        self._index = {c.key: i for i, c in enumerate(cols)}
        self._raw: dict[str, tuple] = {}
        self.sort_key = sort_key
        self.reverse = reverse
        self.syncs = 0
        self.rebuilds = 0

    def on_mount(self) -> None:
        for c in self.cols:
            self.add_column(c.label, width=c.width, key=c.key)
        self._label_sort()

    # -- data --------------------------------------------------------------------------------
    def _cells(self, vals: tuple) -> list[Cell]:
        return [c.render(v) for c, v in zip(self.cols, vals)]

    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def raw(self, key: str) -> tuple | None:
        return self._raw.get(key)

    def sync(self, rows: dict[str, tuple], *, rebuild: bool = False) -> None:
        self.syncs += 1
        cursor = self.current_key()
        old = self._raw
        gone = [k for k in old if k not in rows]
        if rebuild or (len(gone) > 32 and len(gone) * 4 > len(old)):
            self.rebuilds += 1
            self.clear()
            self.add_rows_keyed(rows)
        else:
            for k in gone:
                self.remove_row(k)
            cols = self.cols
            for k, vals in rows.items():
                ov = old.get(k)
                if ov is None:
                    self.add_row(*self._cells(vals), key=k)
                elif ov != vals:
                    for i, (a, b) in enumerate(zip(ov, vals)):
                        if a != b:
                            self.update_cell(k, cols[i].key, cols[i].render(b))
        self._raw = dict(rows)
        self._resort(cursor)

    def add_rows_keyed(self, rows: dict[str, tuple]) -> None:
        for k, vals in rows.items():
            self.add_row(*self._cells(vals), key=k)

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        if key not in self._index:
            return
        if reverse is None:
            reverse = (not self.reverse) if key == self.sort_key else True
        self.sort_key, self.reverse = key, reverse
        self._label_sort()
        self._resort(self.current_key())
        self.post_message(self.Sorted(self))

    def _label_sort(self) -> None:
        for c in self.cols:
            col = self.columns.get(ColumnKey(c.key))
            if col is None:
                continue
            mark = ("▼" if self.reverse else "▲") if c.key == self.sort_key else ""
            col.label = Text(c.label + mark, style="bold" if mark else "")
        self.refresh()

    def _resort(self, cursor: str | None) -> None:
        if self.sort_key and self.row_count:
            self.sort(self.sort_key, key=lambda c: c.sk, reverse=self.reverse)
        if cursor is not None and cursor in self._raw:
            idx = self.get_row_index(RowKey(cursor))
            if idx != self.cursor_row:
                self.move_cursor(row=idx, animate=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.set_sort(event.column_key.value)


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
