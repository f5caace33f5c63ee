"""What the parser tests share: the sample texts' directory and picking records by type."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def of(res, cls) -> list:
    """The records of `res` (a ParseResult) that are instances of `cls`, in order."""
    return [r for r in res.records if isinstance(r, cls)]
