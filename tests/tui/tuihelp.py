"""Helpers for the TUI tests: a list-backed SnapshotSource that can fail on chosen calls, frame
feeding without threads, and waiting on a condition under Pilot."""
from __future__ import annotations

import threading

from droidtrack.model import Snapshot
from droidtrack.sources import Collected, SourceError


class ListSource:
    """Returns the snapshots in order, then keeps returning the last. Calls listed in `fail_at`
    (0-based) raise SourceError instead, like a pulled cable."""

    def __init__(self, snaps: list[Snapshot], *, fail_at=(), raw: bytes | None = b"@@T HDR v=1 root=\n",
                 label: str = "test-device", crash_at=(), gates=None) -> None:
        self.snaps = list(snaps)
        self.fail_at = set(fail_at)
        self.crash_at = set(crash_at)
        self.raw = raw
        self.label = label
        self.calls = 0
        self.served = 0
        self.closed = False
        self.lock = threading.Lock()
        self.gates: dict[int, threading.Event] = gates or {}   # call i waits for gates[i]

    def collect(self) -> Collected:
        with self.lock:
            i = self.calls
            self.calls += 1
        gate = self.gates.get(i)
        if gate is not None:
            gate.wait(30)
        if i in self.fail_at:
            raise SourceError("device emulator-5554 offline")
        if i in self.crash_at:
            raise RuntimeError("adb server went away")
        s = self.snaps[min(self.served, len(self.snaps) - 1)]
        self.served += 1
        return Collected(s, self.raw)

    def close(self) -> None:
        self.closed = True


def feed(app, snaps, pane: int = 0) -> None:
    """Ingest snapshots into a pane's history and show the last one (no thread)."""
    p = app.panes[pane]
    frame = None
    for s in snaps:
        frame = p.feed.history.ingest(s, b"raw")
    p.apply(frame)


async def until(pilot, cond, timeout: float = 10.0, step: float = 0.02) -> None:
    waited = 0.0
    while not cond():
        if waited >= timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(step)
        waited += step
    await pilot.pause()


def table_keys(table) -> list[str]:
    """Row keys in display order."""
    return table.keys()


def plain_cells(table, key: str) -> list[str]:
    return table.cells_plain(key)
