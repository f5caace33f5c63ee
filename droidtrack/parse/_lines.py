"""Small helpers shared by the text parsers: line splitting, capped problem lists, numbers.

Kept tiny on purpose: every parser stays readable on its own; this only removes the
boilerplate that would otherwise be copied into each of them.
"""
from __future__ import annotations

import functools
import os
import re
from typing import Iterable, Iterator

from droidtrack.model.problems import ParseResult, Problem

KIB = 1024
PAGE = 4096

# A parser that meets a long run of garbage should not produce a problem per line: the
# first few say where, the last one says how many more were skipped.
MAX_PROBLEMS = 25


# Real rows of every format read with regular expressions are far shorter (names are at most
# 31 characters, comms 15); a longer line is garbage, and skipping it keeps every parser
# linear-time on hostile input (some row patterns backtrack quadratically on huge lines).
MAX_LINE = 1024


def numbered_lines(text: str, problems: "Problems | None" = None,
                   max_len: int | None = None) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) without the newline or a trailing CR.

    Splits on '\\n' only: `str.splitlines` would also split on form feeds, \\x1c-\\x1e and
    U+2028, which can appear inside a buffer or process name. With `max_len`, longer lines
    are skipped and reported to `problems`.
    """
    if not isinstance(text, str):
        text = str(text)
    for i, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if max_len is not None and len(line) > max_len:
            if problems is not None:
                problems.skip(i, line, f"line longer than {max_len} characters; skipped")
            continue
        yield i, line


def text_lines(text: str, problems: "Problems") -> Iterator[tuple[int, str, str]]:
    """(line number, line, the line stripped) of every line that is not blank (numbered_lines,
    lines over MAX_LINE cut and said)."""
    for n, line in numbered_lines(text, problems, MAX_LINE):
        s = line.strip()
        if s:
            yield n, line, s


def path_entries(entries: Iterable, problems: "Problems") -> Iterator[tuple[int, str, str, bool]]:
    """(line number, path, content, is a grep -A context line) of each (lineno, path, content[,
    context]) tuple, as split_grep gives them; anything else is a problem and skipped."""
    for entry in entries:
        try:
            n, path, content = entry[0], str(entry[1]), str(entry[2])
            context = len(entry) > 3 and bool(entry[3])
        except (TypeError, IndexError, KeyError):
            problems.add("entry is not a (lineno, path, content) tuple; skipped", text=repr(entry)[:100])
            continue
        yield n, path, content, context


class Problems:
    """Collects problems for one parse, capped at MAX_PROBLEMS plus one summary."""

    def __init__(self, source: str, path: str | None = None) -> None:
        self.source = source
        self.path = path
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, message: str, line: int | None = None, text: str | None = None,
            path: str | None = None) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        self.items.append(Problem(self.source, message, line=line, text=text,
                                  path=path if path is not None else self.path))

    def skip(self, line: int, text: str, why: str = "line not understood; skipped") -> None:
        self.add(why, line=line, text=text)

    def done(self) -> list[Problem]:
        out = list(self.items)
        if self.dropped:
            out.append(Problem(self.source, f"{self.dropped} more problems not listed",
                               path=self.path))
        return out


_SEP_RE = re.compile(r"(?<=\d)[,.\u00a0\u202f' ](?=\d{3}(?!\d))")


def grouped_int(s: str) -> int | None:
    """'817,715' / '1.234.567' / '12 345' -> int; None if not a plain (grouped) integer.

    `dumpsys` formats with the device locale's grouping separator.
    """
    s = s.strip()
    if not s:
        return None
    plain = _SEP_RE.sub("", s)
    if plain.isascii() and plain.isdigit():
        return int(plain)
    return None


def to_int(s: str, *, signed: bool = False) -> int | None:
    """The one reading of a decimal integer: ASCII digits, surrounding whitespace allowed, else None.

    Unsigned unless `signed`: sizes, counts, inodes and pids are never negative, so a sign there
    makes the value unreadable (None), not negative. `signed=True` allows one leading '-' or '+',
    for what the kernel prints with %d (oom_score_adj, fdinfo and status fields, bufinfo's counts).
    Never a Unicode digit ('٣', '²'), never '1_0', and None for more digits than int() converts
    (sys.get_int_max_str_digits()) rather than a ValueError."""
    s = s.strip()
    body = s[1:] if signed and s[:1] in ("-", "+") else s
    if body and body.isascii() and body.isdigit():
        try:
            return int(s)
        except ValueError:
            return None
    return None


INTERNAL_ERROR = "internal parser error"     # how every guard() problem starts (tests look for it)


def guard(source: str, fn, *args) -> ParseResult:
    """Run a parser body; an unexpected exception becomes a problem, never a raise."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - never raise: say what happened
        return ParseResult([], [Problem(source, f"{INTERNAL_ERROR}, output ignored: "
                                                f"{type(e).__name__}: {e}")])


def parser(source: str):
    """Decorator for a parser body `fn(*inputs, recs, p)`: it appends its records to `recs` and says
    what it skipped to `p` (Problems(source)); the parser, called with the inputs alone, returns
    ParseResult(recs, p.done()), under guard(source, ...) (an exception: a problem, not a raise)."""
    def wrap(fn):
        def body(args):
            recs: list = []
            p = Problems(source)
            fn(*args, recs, p)
            return ParseResult(recs, p.done())

        @functools.wraps(fn)
        def run(*args) -> ParseResult:
            return guard(source, body, args)
        return run
    return wrap


SLOW_PATHS_ENV = "DROIDTRACK_SLOW_PATHS"


def slow_paths() -> bool:
    """True when the environment asks every parser to take its line-by-line path (a test switch:
    the tests run each input both ways and compare the snapshots). Read on every call."""
    return os.environ.get(SLOW_PATHS_ENV) == "1"


# ---- dma-buf names -------------------------------------------------------------------------
NAME_MAX = 31          # DMA_BUF_NAME_LEN - 1: the most bytes a dma-buf name holds
_BYTE_ESC = re.compile(r"\\x[0-9a-f]{2}")


def name_bytes(s: str) -> int:
    """How many bytes a name decoded with backslashreplace stood for ("\\xNN" is one byte): the
    parsers that rejoin a name split by a newline stop at the kernel's NAME_MAX."""
    return len(_BYTE_ESC.sub("x", s).encode("utf-8", "surrogatepass"))
