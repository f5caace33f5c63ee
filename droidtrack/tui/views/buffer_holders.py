"""Drill-down: one buffer: identity, tag and the rule that gave it, its owner and why, attached
devices, lifetime, and every process holding it (fds, mappings and their ranges)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult

from droidtrack.model import Buffer
from droidtrack.model.owners import KERNEL, UNATTRIBUTED
from droidtrack.tui.bars import Bar
from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_int, c_text
from droidtrack.tui.text import fmt_age, fmt_bytes, fmt_clock, fmt_datetime, lit, plural, safe, tag_style
from droidtrack.tui.views.drill import DrillScreen

if TYPE_CHECKING:
    from droidtrack.tui.pane import DevicePane

HOLDER_COLS = [Col("pid", "PID", 7, c_int), Col("name", "NAME", 30, c_text, priority=0, flex=True),
               Col("fds", "FDS", 12, c_text), Col("maps", "MAPS", 4, c_int),
               Col("mapped", "MAPPED", 8, c_bytes), Col("in_rss", "IN-RSS", 8, c_bytes),
               Col("ranges", "RANGES", 34, c_text)]


def info_text(f: Frame, b: Buffer, gone_since: float | None) -> Text:
    t = Text(no_wrap=False, overflow="fold")

    def field(label: str, value: Text | str, style: str = "") -> None:
        t.append(f"{label:<14}", style="dim")
        t.append_text(value if isinstance(value, Text) else lit(value, style))
        t.append("\n")

    field("buffer", b.key, "bold")
    field("inode", "unknown (this source gives none)" if b.inode is None else str(b.inode))
    field("size", f"{fmt_bytes(b.size)} ({b.size} bytes)")
    field("name", b.name if b.name is not None else "(none)")
    field("exporter", b.exporter if b.exporter is not None else "(unknown)")
    field("refcount", "?" if b.count is None else str(b.count))
    tag = Text()
    tag.append(safe(b.tag), style=f"bold {tag_style(b.tag)}")
    tag.append("  by rule ", style="dim")
    tag.append_text(lit(b.tag_rule or "(none recorded)"))
    field("tag", tag)
    field("attached", ", ".join(safe(a) for a in b.attached) if b.attached else "(no devices attached)")
    field("seen by", ", ".join(b.sources) if b.sources else "?")
    if b.provenance:
        field("provenance", ", ".join(f"{k} from {v}" for k, v in sorted(b.provenance.items())))
    fs = f.first_seen_of(b)
    life = Text()
    if fs is None:
        life.append("?")
    else:
        life.append(f"first seen {fmt_datetime(fs)}, age {fmt_age(f.time - fs)}")
    if gone_since is not None:
        life.append(f"; gone since {fmt_clock(gone_since)}", style="bold")
    field("lifetime", life)
    o = f.owner_of(b)
    if o is not None:
        own = Text()
        own.append_text(lit(o.name, "bold"))
        own.append("  " + ("charged to pid %d" % o.pid if o.pid is not None else
                           "charged to no process" if o.rule in (KERNEL, UNATTRIBUTED) else
                           "runs no process any more: charged to nobody"), style="dim")
        field("owner", own)
        why = Text()
        why.append(o.rule, style="bold")
        why.append(": ")
        why.append_text(lit(o.evidence))
        field("why", why)
    if not b.holders:
        lh = f.last_holders.get(b.key)
        if lh is None:
            field("holders", Text("none: kernel-only, never seen held in this session", style="yellow"))
        else:
            ho = Text("none now (kernel-only); last held by ", style="yellow")
            ho.append_text(lit(", ".join(f"{lab} ({pid})" for pid, lab in zip(lh[1], lh[2]))))
            ho.append(f" until {fmt_clock(lh[0])}", style="yellow")
            field("holders", ho)
    else:
        field("holders", plural(len(b.holders), "process"))
    return t


class BufferScreen(DrillScreen):
    DEFAULT_CSS = """
    BufferScreen #binfo { height: auto; padding: 0 1; }
    BufferScreen LiveTable { height: 1fr; }
    """

    def __init__(self, pane: "DevicePane", key: str) -> None:
        super().__init__(pane)
        self.key = key
        self.buffer: Buffer | None = None
        self.gone_since: float | None = None

    def compose_body(self) -> ComposeResult:
        yield Bar(id="binfo")
        yield LiveTable(HOLDER_COLS, sort_key="pid", reverse=False, id="holders")

    def on_frame(self, f: Frame) -> None:
        b = f.snapshot.buffers.get(self.key)
        if b is None:
            if self.gone_since is None:
                self.gone_since = f.time
        else:
            self.buffer, self.gone_since = b, None
        b = self.buffer
        if b is None:
            self.query_one("#binfo", Bar).update(Text(f"buffer {self.key} is not in this snapshot"))
            return
        self.query_one("#binfo", Bar).update(info_text(f, b, self.gone_since))
        rows = {}
        for pid, h in b.holders.items():
            ranges = " ".join(f"{m.start:x}-{m.end:x}" for m in h.maps[:3]) + (" …" if len(h.maps) > 3 else "")
            in_rss = sum(m.rss or 0 for m in h.maps)
            rows[str(pid)] = (pid, f.label(pid), ",".join(map(str, h.fds)) or "-", len(h.maps),
                              b.size if h.maps else 0, in_rss, ranges)
        self.query_one(LiveTable).sync(rows)
