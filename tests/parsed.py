"""What the parser tests share: the sample texts' directory, picking records by type, and checking a
fast path against its parser."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def of(res, cls) -> list:
    """The records of `res` (a ParseResult) that are instances of `cls`, in order."""
    return [r for r in res.records if isinstance(r, cls)]


def fast_agrees(fast, parse, text: str, root: str, same) -> bool:
    """False where the fast path `fast(text, root)` declines (None); else True, after asserting
    that `parse(text, root)` finds nothing to say and `same(fast's result, parse's result)`."""
    got = fast(text, root)
    if got is None:
        return False
    res = parse(text, root)
    assert res.problems == []
    same(got, res)
    return True
