"""What a parser or a source could not read, said once, with where.

Every parser is `text -> ParseResult`: the records it understood and a list of
`Problem`s for what it skipped. Parsers never raise on bad input; the problems
travel with the snapshot so the user sees what was left out and why.

A long run of bad input must not turn into as many problems (1.7 M junk lines are not 1.7 M
problems): `ProblemLog`, the list parsers and the Builder collect into, keeps the first
`PER_KIND` problems of each kind (same source and message) and only counts the rest, and past
`MAX_KEPT` problems in all counts every further one by source; `summarized()` adds one problem per
kind saying how many more there were.
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


PER_KIND = 20       # problems kept of one kind (source and message)
MAX_KEPT = 1000     # problems kept in all; further ones are only counted, by source


class ProblemLog(list):
    """A list of Problems that keeps the first PER_KIND of each kind and counts the others (see the
    module docstring). append/extend are the only ways in; extending by another ProblemLog also
    takes over what it counted."""

    __slots__ = ("seen", "dropped")

    def __init__(self, items=()) -> None:
        super().__init__()
        self.seen: dict[tuple[str, str], int] = {}           # kind -> how many were offered
        self.dropped: dict[tuple[str, str | None], int] = {}  # kind (or (source, None)) -> not kept
        self.extend(items)

    def append(self, p: Problem) -> None:
        kind = (p.source, p.message)
        n = self.seen.get(kind)
        if n is None:
            if len(self) >= MAX_KEPT:
                k = (p.source, None)
                self.dropped[k] = self.dropped.get(k, 0) + 1
                return
            n = 0
        self.seen[kind] = n + 1
        if n < PER_KIND:
            list.append(self, p)
        else:
            self.dropped[kind] = self.dropped.get(kind, 0) + 1

    def extend(self, items) -> None:
        append = self.append
        for p in items:
            append(p)
        more = getattr(items, "dropped", None) if isinstance(items, ProblemLog) else None
        if more:
            for k, n in more.items():
                self.dropped[k] = self.dropped.get(k, 0) + n

    def __iadd__(self, items):
        self.extend(items)
        return self

    def insert(self, index, p: Problem) -> None:   # kept in order, counted like append
        before = len(self)
        self.append(p)
        if len(self) > before and index < before:
            list.insert(self, index, list.pop(self))

    def summarized(self) -> list[Problem]:
        """The kept problems, then one per kind that had more: how many were not listed."""
        out = list(self)
        for (source, message), n in self.dropped.items():
            if message is None:
                out.append(Problem(source, f"{n} more problems not listed (too many problems)"))
            else:
                out.append(Problem(source, f"{n} more problems like this not listed: {message}"))
        return out


@dataclass
class ParseResult(Generic[T]):
    records: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=ProblemLog)

    def __iter__(self):  # allows `records, problems = parse(text)`
        yield self.records
        yield self.problems
