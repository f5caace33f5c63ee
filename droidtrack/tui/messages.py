"""What a feed's thread tells the UI: a new Frame, or a failed collection (post_message is
thread-safe, so the feeds post these to their DevicePane)."""
from __future__ import annotations

from textual.message import Message

from droidtrack.tui.state import Frame


class FrameReady(Message):
    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame


class FeedError(Message):
    def __init__(self, message: str, retry_in: float, failures: int) -> None:
        super().__init__()
        self.message = message
        self.retry_in = retry_in
        self.failures = failures
