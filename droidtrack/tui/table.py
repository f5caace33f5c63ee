"""A table for thousands of rows updated in place (Textual's line API), its columns and the cells
they render. Columns have a priority: a narrow terminal shows the most important ones, a wide one
adds the rest, and a flexible column (a name) takes the spare width."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from droidtrack.tui.text import Cell, fmt_age, fmt_bytes, fmt_clock, fmt_delta, safe, sparkline, tag_bar, tag_style


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
    """One column. `width` is its narrowest (widened to fit its label and a sort mark); `priority`
    orders which columns a narrow table keeps (0 first; None: the column's place); the `flex`
    columns share the width left over."""
    key: str
    label: str
    width: int
    render: Callable[[Any], Text]

    justify: str = ""
    priority: int | None = None
    flex: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", max(self.width, len(self.label) + 1))

    def sort_key(self, v: Any) -> Any:
        return SORT_KEYS.get(self.render, _num)(v)

    @property
    def descending_first(self) -> bool:
        """Numbers sort biggest first, names A to Z."""
        return self.render not in _TEXT


def _hidden(*spec: tuple[str, str, str]) -> list[Binding]:
    return [Binding(key, action, desc, show=False) for key, action, desc in spec]


class LiveTable(ScrollView, can_focus=True):
    """A table for thousands of rows refreshed every second or two (Textual's line API).

    `sync(rows)` takes every row as raw values (key -> tuple, one value per column); a row is
    rendered to a Strip only when it is on screen and then reused until its values, its place
    (zebra, cursor) or the width change. A refresh therefore costs a tuple comparison per row, a
    sort when the sort column changed, and rendering the rows on screen that changed; nothing is
    rebuilt. The cursor stays on its row key across refreshes and re-sorts.

    Keys: up/down, PgUp/PgDn, Home/End (posts CursorMoved), Enter (posts Selected). Mouse: click a row to put the
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
    BINDINGS = _hidden(("up", "cursor(-1)", "Up"), ("down", "cursor(1)", "Down"),
                       ("pageup", "page(-1)", "Page up"), ("pagedown", "page(1)", "Page down"),
                       ("home", "edge(0)", "Top"), ("end", "edge(1)", "Bottom"), ("enter", "select", "Open"))

    class _RowMessage(Message):
        def __init__(self, table: "LiveTable", key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> "LiveTable":
            return self.table

    class Selected(_RowMessage):
        """Enter (or a second click) on a row."""

    class CursorMoved(_RowMessage):
        """The user moved the cursor to another row."""

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
        self._strips: dict[str, tuple] = {}       # key -> (raw, kind, width, Strip), for this layout
        self._header: tuple | None = None
        self.sort_key = sort_key
        self.reverse = reverse
        self.cursor_row = 0
        self.syncs = 0
        self.rebuilds = 0
        self._layout_for = -1
        self.shown: list[tuple[int, Col, int]] = []   # (index in the row, column, width) on screen
        self.width_total = 0
        self._lay_out(max(self.min_width, 1))

    # -- columns -----------------------------------------------------------------------------
    @property
    def min_width(self) -> int:
        """The width every column needs (wider: a flexible column takes the rest)."""
        return sum(c.width + 2 for c in self.cols)

    def _lay_out(self, width: int) -> None:
        """Choose the columns for `width` cells: by priority while they fit (the first always),
        in their own order; the spare width goes to the flexible columns, in equal parts."""
        if width == self._layout_for:
            return
        self._layout_for = width
        rank = sorted(range(len(self.cols)), key=lambda i: (self.cols[i].priority if self.cols[i].priority is not None
                                                            else len(self.cols) + i, i))
        keep: set[int] = set()
        used = 0
        for i in rank:
            need = self.cols[i].width + 2
            if keep and used + need > width:
                continue
            keep.add(i)
            used += need
        spare = max(0, width - used)
        flex = [i for i in sorted(keep) if self.cols[i].flex]
        extra = dict.fromkeys(flex, spare // len(flex)) if flex else {}
        if flex:
            extra[flex[0]] += spare % len(flex)
        self.shown = [(i, c, c.width + extra.get(i, 0)) for i, c in enumerate(self.cols) if i in keep]
        self.width_total = sum(w + 2 for _, _, w in self.shown)
        self._header = None
        self._strips.clear()

    def shown_keys(self) -> list[str]:
        return [c.key for _, c, _ in self.shown]

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if width and width != self._layout_for:
            self._lay_out(width)
            self.virtual_size = Size(self.width_total, len(self._order) + 1)
            self.refresh()

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
        """Sort by column `key`; without `reverse`, the other way if it is the sort column already,
        else the column's natural way (numbers biggest first, names A to Z)."""
        if key not in self._colindex:
            return
        if reverse is None:
            reverse = (not self.reverse) if key == self.sort_key else self.cols[self._colindex[key]].descending_first
        self.sort_key, self.reverse = key, reverse
        self._header = None
        self._resort(self.current_key())
        self.post_message(self.Sorted(self))

    def cycle_sort(self, d: int) -> None:
        """Sort by the shown column `d` places after (before) the current one."""
        keys = self.shown_keys()
        i = keys.index(self.sort_key) if self.sort_key in keys else 0
        key = keys[(i + d) % len(keys)]
        self.set_sort(key, reverse=self.cols[self._colindex[key]].descending_first)

    def invert_sort(self) -> None:
        if self.sort_key:
            self.set_sort(self.sort_key, reverse=not self.reverse)

    def move_cursor(self, row: int) -> None:
        if not self._order:
            return
        was = self.cursor_row
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        self._keep_cursor_visible()
        self.refresh()
        if self.cursor_row != was:
            self.post_message(self.CursorMoved(self, self.current_key()))

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
            for _, c, w in self.shown:
                edge += w + 2
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
        for i, c, width in self.shown:
            ct = c.render(vals[i])
            ct.truncate(width, overflow="ellipsis")
            pad = width - ct.cell_len
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
        if y == 0:
            self._fit()     # a vertical scrollbar that came or went changes the width to lay out
        width = max(self.width_total, self.size.width)
        sx, sy = self.scroll_offset
        if y == 0:
            st = self.get_component_rich_style("live-table--header")
            hk = (width, self.sort_key, self.reverse, st)
            if self._header is None or self._header[0] != hk:
                t = Text(no_wrap=True, end="")
                for _, c, cw in self.shown:
                    mark = ("▼" if self.reverse else "▲") if c.key == self.sort_key else ""
                    label = c.label[: cw - len(mark)] + mark
                    if c.justify == "right" or c.render in _RIGHT:
                        label = label.rjust(cw)
                    t.append(" " + label.ljust(cw) + " ")
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
_TEXT = {c_text, c_tag, c_tags}
