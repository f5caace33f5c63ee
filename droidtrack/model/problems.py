"""What a parser or a source could not read, said once, with where.

Every parser is `text -> ParseResult`: the records it understood and a list of
`Problem`s for what it skipped. Parsers never raise on bad input; the problems
travel with the snapshot so the user sees what was left out and why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    source: str            # which format/section: "bufinfo", "fdinfo", "collector", ...
    message: str           # what went wrong, in plain words
    line: int | None = None  # 1-based line number in the text the parser was given
    text: str | None = None  # the offending text, shortened; never interpreted
    path: str | None = None  # device path when known ("/proc/123/fdinfo/7")

    def __post_init__(self) -> None:
        if self.text is not None and len(self.text) > 120:
            object.__setattr__(self, "text", self.text[:117] + "...")

    def to_json(self) -> dict:
        d = {"source": self.source, "message": self.message}
        if self.line is not None:
            d["line"] = self.line
        if self.text is not None:
            d["text"] = self.text
        if self.path is not None:
            d["path"] = self.path
        return d


@dataclass
class ParseResult(Generic[T]):
    records: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def __iter__(self):  # allows `records, problems = parse(text)`
        yield self.records
        yield self.problems
