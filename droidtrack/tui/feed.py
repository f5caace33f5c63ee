"""Feeds turn a source into Frames without ever blocking the UI thread.

LiveFeed    a SnapshotSource polled every `interval` seconds in its own daemon thread. Any
            exception from collect() (SourceError or otherwise) is reported through `on_error`
            and retried with a growing delay; the DeviceTimeline survives, so the screens keep the last
            frame and everything learned so far.
ReplayFeed  a recorded sequence of snapshots; `goto(i)` computes frame i in its thread (forward
            steps are incremental, a jump back replays the history from the start).

Both call `on_frame(frame)` / `on_error(message, retry_in, failures)` from their thread; the
pane turns those into Textual messages (post_message is thread-safe).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Callable

from droidtrack.model import Snapshot
from droidtrack.sources import SourceError
from droidtrack.tui.state import DeviceTimeline

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
RETRY = (1.0, 2.0, 5.0, 10.0, 30.0)


def describe_error(e: BaseException) -> str:
    msg = str(e).strip()
    if isinstance(e, SourceError) and msg:
        return msg
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _unpack(item: Any) -> tuple[Snapshot, bytes | None]:
    if isinstance(item, Snapshot):
        return item, None
    snap = getattr(item, "snapshot", None)
    if isinstance(snap, Snapshot):
        return snap, getattr(item, "raw", None)
    raise TypeError(f"not a snapshot: {type(item).__name__}")


class _Feed:
    """What both feeds share: a daemon thread woken by an event, stopped by another."""
    kind = ""
    thread_name = "droidtrack-feed"

    def __init__(self, label: str, interval: float, on_frame: Callable, on_error: Callable) -> None:
        self.label = label
        self.interval = interval
        self.failures = 0
        self._on_frame = on_frame
        self._on_error = on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.thread_name}:{self.label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the thread to end (a collect() stuck on adb is not waited for)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self._wake.set()


class LiveFeed(_Feed):
    kind = "live"

    def __init__(self, source: Any, history: DeviceTimeline, *, interval: float,
                 on_frame: Callable, on_error: Callable) -> None:
        super().__init__(str(getattr(source, "label", "") or type(source).__name__), interval, on_frame, on_error)
        self.source = source
        self.history = history
        self.paused = False

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._wake.set()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.paused:
                    self._wake.wait()
                    self._wake.clear()
                    continue
                t0 = time.monotonic()
                try:
                    collected = self.source.collect()
                    snap, raw = _unpack(collected)
                except Exception as e:  # a disconnect, a dead adb server, a bug: all retried
                    self.failures += 1
                    delay = RETRY[min(self.failures - 1, len(RETRY) - 1)]
                    if not self._stop.is_set():
                        self._on_error(describe_error(e), delay, self.failures)
                    self._sleep(delay)
                    continue
                if self._stop.is_set():
                    break
                try:
                    frame = self.history.ingest(snap, raw)
                except Exception as e:
                    self._on_error(f"could not process the snapshot: {describe_error(e)}", self.interval,
                                   self.failures)
                    self._sleep(self.interval)
                    continue
                self.failures = 0
                self._on_frame(frame)
                self._sleep(self.interval - (time.monotonic() - t0))
        finally:
            try:
                self.source.close()
            except Exception:
                pass


class ReplayFeed(_Feed):
    kind = "replay"
    thread_name = "droidtrack-replay"
    CATCH_UP_FRAME = 0.5   # seconds between the frames shown while catching up to a far target

    def __init__(self, items: Sequence[Any], label: str, *, history_factory: Callable[[], DeviceTimeline],
                 interval: float, on_frame: Callable, on_error: Callable, start_at: int = -1) -> None:
        super().__init__(label, interval, on_frame, on_error)
        self.items = items
        self.paused = True             # not playing; stepping only
        self._factory = history_factory
        self.history = history_factory()
        self.position = -1             # index of the last frame produced
        self.target = (len(items) + start_at) if start_at < 0 else min(start_at, len(items) - 1)

    def __len__(self) -> int:
        return len(self.items)

    def time_at(self, i: int) -> float | None:
        ta = getattr(self.items, "time_at", None)
        if ta is not None:
            return ta(i)
        try:
            return _unpack(self.items[i])[0].time
        except (IndexError, TypeError):
            return None

    def start(self) -> None:
        super().start()
        self._wake.set()

    def stop(self) -> None:
        super().stop()
        close = getattr(self.items, "close", None)
        if close is not None:
            close()

    def goto(self, i: int) -> None:
        n = len(self.items)
        if n == 0:
            return
        self.target = max(0, min(n - 1, i))
        self._wake.set()

    def step(self, d: int) -> None:
        self.goto((self.target if self.target is not None else 0) + d)

    def set_paused(self, paused: bool) -> None:
        """Not paused = playing: one step per interval (from the start again when at the end)."""
        self.paused = paused
        if not paused and self.target >= len(self.items) - 1:
            self.goto(0)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(None if self.paused else self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            if not self.paused and self.position == self.target:
                if self.target >= len(self.items) - 1:
                    self.paused = True
                else:
                    self.target += 1
            self._advance()

    def _advance(self) -> None:
        """Ingest samples up to the target. The history needs every sample in order (Δ since the
        first, first-seen times, leak slopes), so reaching sample 100 of a long recording takes
        100 ingests: the first frame is shown as soon as it exists and then one every
        CATCH_UP_FRAME seconds while it catches up, so the screen fills at once (issue 12 #5) and
        the slider shows the progress."""
        frame = None
        shown_at = None
        while self.position != self.target and not self._stop.is_set():
            target = self.target
            if target < self.position:
                self.history = self._factory()
                self.position = -1
            try:
                snap, raw = _unpack(self.items[self.position + 1])
                frame = self.history.ingest(snap, raw)
            except Exception as e:
                self._on_error(f"recording item {self.position + 2}: {describe_error(e)}", 0.0, 1)
            self.position += 1
            now = time.monotonic()
            if frame is not None and self.position != self.target and (
                    shown_at is None or now - shown_at >= self.CATCH_UP_FRAME):
                self._on_frame(frame)
                shown_at, frame = now, None
        if frame is not None:
            self._on_frame(frame)
