"""View 5: whose the bytes are. One row per owner (a package or a process, model/owners.py): the
bytes it is charged (each buffer's whole size, to the one process it was made for), how many
buffers, which processes hold them, the rule that decided and Δ since the first sample. Kernel-only
buffers, unattributed ones and those of owners that run no process any more have rows of their
own, so the rows add up to every byte. Enter opens the owner's buffers with the why of each."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from droidtrack.tui.bars import Bar
from droidtrack.tui.owned import OwnerRow
from droidtrack.tui.state import Frame
from droidtrack.tui.table import Col, LiveTable, c_bytes, c_delta, c_ident, c_int, c_text
from droidtrack.tui.text import fmt_bytes, plural

OWNER_COLS = [
    Col("pid", "PID", 7, c_ident, priority=6), Col("name", "OWNER", 22, c_text, priority=0, flex=True),
    Col("bytes", "CHARGED", 7, c_bytes, priority=1), Col("buffers", "BUFS", 5, c_int, priority=4),
    Col("delta", "Δ", 8, c_delta, priority=2), Col("held_by", "HELD BY", 30, c_text, priority=3, flex=True),
    Col("rule", "RULE", 15, c_text, priority=5),
]

# what the rows that are no process say instead of a name
KIND_NAMES = {"kernel": "kernel (no holder)", "unknown": "unattributed (unread)"}


def owner_title(r: OwnerRow) -> str:
    """How an owner is named on screen (device text: render it literally)."""
    if r.kind == "gone":
        return f"{r.name} (gone)"
    return KIND_NAMES.get(r.kind, r.name)


def owner_ident(r: OwnerRow) -> tuple[int, str]:
    if not r.pids:
        return (-1, "-")
    return (r.pids[0], str(r.pids[0]) if len(r.pids) == 1 else f"{len(r.pids)} procs")


def _held_by(r: OwnerRow) -> str:
    if r.kind == "kernel":
        return "nobody: kernel-only"
    if r.kind == "unknown":
        return "? (some processes unreadable)"
    return r.held_by


def owner_raw(r: OwnerRow) -> tuple:
    return (owner_ident(r), owner_title(r), r.bytes, r.buffers, r.delta, _held_by(r), r.rule)


class OwnersView(Vertical):
    def compose(self) -> ComposeResult:
        yield Bar(id="owner_title", classes="title")
        yield LiveTable(OWNER_COLS, sort_key="bytes", id="owner_table")

    def paint(self, f: Frame) -> None:
        running = [r for r in f.owners.values() if r.kind == "process"]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{plural(len(running), 'owner')} charged {fmt_bytes(f.acc.totals.charged)}, each buffer to the "
                 "one it was made for (Enter: why)")
        self.query_one("#owner_title", Bar).update(t)
        self.query_one("#owner_table", LiveTable).sync({k: owner_raw(r) for k, r in f.owners.items()})

