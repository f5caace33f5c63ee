"""Drill-down: the buffers of one process (or of a group: a package, a tag), how it holds each
and who shares it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from droidtrack.model import Buffer
from droidtrack.tui.state import Frame, Row
from droidtrack.tui.table import Col, c_text
from droidtrack.tui.text import fmt_bytes, lit, plural
from droidtrack.tui.views import AGE, buffer_cols
from droidtrack.tui.views.drill import BufferListScreen, append_delta

if TYPE_CHECKING:
    from droidtrack.tui.pane import DevicePane

BUF_COLS = buffer_cols(Col("how", "HOW", 6, c_text), Col("shared", "SHARED WITH", 28, c_text), AGE)


def _how(b: Buffer, pids: tuple[int, ...]) -> str:
    fd = mp = False
    for p in pids:
        h = b.holders.get(p)
        if h is not None:
            fd = fd or h.by_fd
            mp = mp or h.by_map
    return "fd+map" if fd and mp else ("map" if mp else "fd")


def _shared(f: Frame, b: Buffer, pids: tuple[int, ...]) -> str:
    others = [p for p in sorted(b.holders) if p not in pids]
    if not others:
        return ""
    names = [f"{f.label(p)} ({p})" for p in others[:3]]
    if len(others) > 3:
        names.append(f"+{len(others) - 3} more")
    return ", ".join(names)


def title_text(f: Frame, grouping: str, r: Row) -> Text:
    t = Text(no_wrap=False)
    t.append({"process": "process ", "package": "package ", "tag": "tag "}[grouping], style="dim")
    t.append_text(lit(r.name, "bold"))
    t.append(f"  pid {r.ident}" if grouping == "process" else f"  {r.ident}: "
             + ", ".join(str(p) for p in r.pids[:12]) + (" …" if len(r.pids) > 12 else ""))
    t.append(f"\n{plural(r.count, 'buffer')}  RSS {fmt_bytes(r.rss)}  PSS {fmt_bytes(r.pss)}  charged {fmt_bytes(r.charged)}  "
             f"fd-only {fmt_bytes(r.fd_only)}  mapped {fmt_bytes(r.mapped)}  in-RSS {fmt_bytes(r.in_rss)}")
    if grouping == "process":
        p = f.snapshot.processes.get(r.pids[0])
        if p is not None:
            t.append("\ncmdline ", style="dim")
            t.append_text(lit(" ".join(p.cmdline) or "(empty)"))
            t.append("  comm ", style="dim")
            t.append_text(lit(p.name))
            if p.uid is not None:
                t.append(f"  uid {p.uid}", style="dim")
            if p.oom_score_adj is not None:
                t.append(f"  oom_score_adj {p.oom_score_adj}", style="dim")
    append_delta(t, r.delta)
    return t


class ProcessScreen(BufferListScreen):
    COLS = BUF_COLS

    def __init__(self, pane: "DevicePane", grouping: str, key: str) -> None:
        super().__init__(pane, key)
        self.grouping = grouping

    def row_of(self, f: Frame) -> Row | None:
        return f.rows.get(self.grouping, {}).get(self.key)

    def head_text(self, f: Frame, r: Row) -> Text:
        return title_text(f, self.grouping, r)

    def note_text(self, r: Row) -> Text:
        if r.unreadable:
            return Text("droidtrack could not read this process's fds (no root?): buffers it holds "
                        "only by fd are missing here")
        return Text()

    def buffer_rows(self, f: Frame, r: Row) -> dict[str, tuple]:
        pids = r.pids
        bufs = f.buffers_of(pids)
        if self.grouping == "tag":
            bufs = tuple(b for b in bufs if b.tag == r.name)
        rows = {}
        for b in bufs:
            fs = f.first_seen_of(b)
            rows[b.key] = (b.inode, b.size, b.name or "", b.exporter or "", b.tag, _how(b, pids),
                           _shared(f, b, pids), None if fs is None else f.time - fs)
        return rows
