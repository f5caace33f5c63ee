"""A raw collector stream saved with --save-capture (docs/capture-format.md)."""
from __future__ import annotations

import os
from pathlib import Path

from droidtrack.collect import frames
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.sources import Collected, SourceError, collected_from_stream
from droidtrack.model.tags import Rules


def read_capture(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SourceError(f"cannot read capture {path}: {e.strerror}") from None


class CaptureSource:
    def __init__(self, path: str, *, rules: Rules | None = None) -> None:
        self.path = path
        self.rules = rules
        self.label = f"capture:{path}"

    def collect(self) -> Collected:
        data = read_capture(self.path)
        fr = frames.decode(data)
        if fr.token is None:
            raise SourceError(f"{self.path} is not a droidtrack capture (no collector header line); "
                              "for pasted text of one source use `droidtrack analyze`")
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            mtime = 0.0
        snap = snapshot_from_frames(fr, rules=self.rules, time=mtime, origin=self.label)
        return collected_from_stream(fr, snap, data)

    def close(self) -> None:
        pass
