"""A recording as a snapshot source (`--replay FILE`).

`collect()` steps through the samples in order and keeps returning the last one once it is reached
(`exhausted` turns true), so `top --replay` plays the recording and then holds its last frame.
The TUI's time slider uses `samples` (index, time, kind of every sample) and `seek(i)` / `at(i)`.
A truncated recording opens with every complete sample; what was lost is in `problems`.
Either format (/2 SQLite, /1) is opened by its index alone; one sample is built at a time and only
the last one asked for is kept.
"""
from __future__ import annotations

from dataclasses import replace

from droidtrack.model.problems import Problem
from droidtrack.history.recording import Recording, RecordingError, SampleInfo, open_recording
from droidtrack.sources import Collected, SourceError, step_through


class ReplaySource:
    def __init__(self, path: str, rules=None, *, start: int = 0):
        self.path = path
        self.rules = rules
        try:
            self.recording: Recording = open_recording(path)
        except RecordingError as e:
            raise SourceError(str(e)) from None
        if not self.recording.samples:
            detail = "; ".join(p.message for p in self.recording.problems)
            raise SourceError(f"{path}: the recording holds no complete sample" + (f" ({detail})" if detail else ""))
        self.label = f"replay {path}"
        self.position = self.recording.resolve(start) if start else 0   # the next sample collect() returns
        self.exhausted = False
        self._cache: dict[int, Collected] = {}

    @property
    def samples(self) -> list[SampleInfo]:
        return self.recording.samples

    @property
    def problems(self) -> list[Problem]:
        return self.recording.problems

    def __len__(self) -> int:
        return len(self.recording.samples)

    def lifetimes(self):
        """The recording's dma_buf lifetimes (record --trace), or None (none recorded, or a /1 file)."""
        fn = getattr(self.recording, "lifetimes", None)
        return fn() if callable(fn) else None

    def at(self, i: int) -> Collected:
        """Sample i (negative counts from the end) without moving the play position."""
        try:
            j = self.recording.resolve(i)
        except RecordingError as e:
            raise SourceError(str(e)) from None
        c = self._cache.get(j)
        if c is None:
            try:
                snap = self.recording.snapshot(j, self.rules)
            except RecordingError as e:
                raise SourceError(str(e)) from None
            if self.recording.problems and j == len(self.recording.samples) - 1:
                snap = replace(snap, problems=tuple(snap.problems) + tuple(self.recording.problems))
            s = self.recording.samples[j]
            raw = self.recording.payload(j) if s.kind == "raw" else None
            c = Collected(snap, raw)
            # one sample kept: memory stays that of one sample (issue 12 #5), however the slider moves
            self._cache.clear()
            self._cache[j] = c
        return c

    def seek(self, i: int) -> None:
        """Make sample i the next one collect() returns."""
        try:
            self.position = self.recording.resolve(i)
        except RecordingError as e:
            raise SourceError(str(e)) from None
        self.exhausted = False

    def collect(self) -> Collected:
        return step_through(self)

    def close(self) -> None:
        self._cache.clear()
