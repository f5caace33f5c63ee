"""The views of `droidtrack top`, one module each. The device pane (tui/pane.py) shows the five
main views and pushes the others over itself as screens:

    processes.py       1  processes (or packages, tags) holding dma-bufs
    tags.py            2  totals per tag and exporter, the reconciliation
    kernel.py          3  buffers no process holds
    leaks.py           4  what grew since the baseline
    owners.py          5  whose the bytes are: the owner each buffer is charged to (model/owners.py)
    process_buffers.py    drill-down: the buffers of one process, package or tag
    owner_buffers.py      drill-down: the buffers of one owner, with the rule and why of each
    buffer_holders.py     drill-down: one buffer, its owner and why, holders and lifetime
    drill.py              what the drill-downs share: the device header and coverage bar
    help.py, problems.py  modal screens

Each renders from a Frame (tui/state.py); none talks to a source.
"""
from __future__ import annotations

from droidtrack.tui.table import Col, c_age, c_bytes, c_int, c_tag, c_text


def buffer_cols(*more: Col) -> list[Col]:
    """The columns every buffer table starts with (inode, size, name, exporter, tag), then `more`.
    The name takes the spare width; a narrow table keeps name and size first."""
    return [Col("inode", "INODE", 9, c_int, priority=4), Col("size", "SIZE", 7, c_bytes, priority=1),
            Col("name", "NAME", 24, c_text, priority=0, flex=True),
            Col("exporter", "EXPORTER", 16, c_text, priority=5), Col("tag", "TAG", 10, c_tag, priority=2),
            *more]


AGE = Col("age", "AGE", 7, c_age, priority=3)
