"""The text dumpstate writes into a bug report, read as a stream of sections within budgets.

dumpstate's main text (named by `main_entry.txt` in the zip; the board HAL's part goes to
`dumpstate_board.txt`) is made of sections, each opened by a header line:

    ------ TITLE (/path/of/file[: mtime]) ------       DumpFile
    ------ TITLE (command args…) ------                RunCommand
    ------ DUMPSYS HIGH (/system/bin/dumpsys) ------   then, per service:
    -------------------------------------------------------------------------------
    DUMP OF SERVICE [PRIORITY ]name:
    …
    --------- 0.512s was the duration of dumpsys name, ending at: 2024-03-14 09:27:31

and closed by the next header, a "------ 1.234s was the duration of 'TITLE' ------" line or a
"==== " banner. A failed read prints "*** /path: No such file or directory" (or "*** command
'…' failed …", "Skipping '…' on user build.") as the section's content.

A zip can hold anything (a 3.6 MB zip inflates to 4 GiB of one line), so nothing here holds a
whole entry: entries are inflated in chunks, only the marker lines are looked at, and only the
sections a caller keeps are stored, each capped, with caps on all of them together, on the
bytes inflated and on the headers met. What a cap stopped is said in a problem.
"""
from __future__ import annotations

import re
import struct
from itertools import chain
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from droidtrack.model.problems import Problem

MiB = 1 << 20
CHUNK = 1 * MiB
SECTION_CAP = 16 * MiB          # a kept section (bufinfo of 20,000 buffers is ~4 MiB)
KEPT_BUDGET = 64 * MiB          # every kept section together
SCAN_BUDGET = 1024 * MiB        # bytes inflated over all entries (a real main text is 10-200 MiB)
MAX_MARKS = 200_000             # header/banner/service lines met in one entry (real: a few thousand)
HEADER_CAP = 256 * 1024         # the text before the first section
LONG_LINE = 64 * 1024           # no marker line is longer

_HEADER = re.compile(r"^------ (?P<title>.+?) \((?P<src>.*)\) ------\r?$")
_PLAIN_HEADER = re.compile(r"^------ (?P<title>[^()]+?) ------\r?$")
_DURATION = re.compile(r"^------ [\d.]+s was the duration of '.*' ------\r?$")
_BANNER = re.compile(r"^={20,}\r?$")
_SERVICE = re.compile(r"^DUMP OF SERVICE (?:(?:CRITICAL|HIGH|NORMAL) )?(?P<name>[^\s:]+):\r?$")
_SERVICE_END = re.compile(r"^--------- [\d.]+s was the duration of dumpsys (?P<name>\S+), ending at: .*$")
_DASHES = re.compile(r"^-{70,}\r?$")
# a marker line begins like this; searched as "\n" + prefix (a literal first byte: ~7x faster than ^ with re.M)
_MARK_AT = re.compile(rb"-{6}|DUMP OF SERVICE |={20}")
_MARK = re.compile(rb"\n(?:-{6}|DUMP OF SERVICE |={20})")
_TRAILING_DASHES = re.compile(r"\n-{70,}\r?\n?\Z")
_MTIME = re.compile(r": \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_FAIL = re.compile(r"^\*\*\* (?:(?P<path>/\S*): (?P<err>.+)|command '(?P<cmd>.*)' (?P<how>failed|timed out).*)$")
_SKIP = re.compile(r"^Skipping '.*' on user build\.?$")


@dataclass
class DumpSection:
    title: str
    source: str                 # the path or the command line from the header ("" if none)
    text: str
    entry: str                  # zip member it came from
    line: int                   # 1-based line of the header in that member
    services: dict[str, str] = field(default_factory=dict)   # dumpsys sections: service -> output
    truncated: bool = False     # a cap cut it

    @property
    def path(self) -> str:
        return _MTIME.sub("", self.source)

    def failure(self) -> str | None:
        """The dumpstate error line if the section holds nothing but an error."""
        lines = [l for l in self.text.splitlines() if l.strip()]
        if not lines:
            return "empty"
        if len(lines) <= 3:
            for l in lines:
                if _FAIL.match(l) or _SKIP.match(l):
                    return l
        return None


# keep(title, source) -> None (drop), True (keep the text) or a set of dumpsys service names
Keep = Callable[[str, str], "bool | frozenset[str] | None"]


def keep_all(title: str, source: str):
    return True


@dataclass
class Budget:
    """What all the entries of one bug report may use together."""
    scan: int = SCAN_BUDGET
    kept: int = KEPT_BUDGET
    problems: list[Problem] = field(default_factory=list)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


class _Splitter:
    """Sections of one entry from its bytes, fed in chunks."""

    def __init__(self, entry: str, keep: Keep, budget: Budget, with_header: bool) -> None:
        self.entry = entry
        self.keep = keep
        self.budget = budget
        self.sections: list[DumpSection] = []
        self.header: list[bytes] | None = [] if with_header else None
        self.header_size = 0
        self.line = 1                   # line number at the start of what feed() gets next
        self.carry = b""
        self.in_long_line = False       # the bytes that come next continue a line already passed on
        self.marks = 0
        self.stopped: str | None = None
        self.cur: DumpSection | None = None
        self.kept = False               # the current section is one the caller keeps
        self.seen_section = False
        self.parts: list[bytes] | None = None      # kept text of the current section
        self.size = 0
        self.services: frozenset[str] | None = None  # wanted services of the current dumpsys section
        self.all_services = False
        self.svc: str | None = None
        self.svc_parts: list[bytes] | None = None

    # ---- content -------------------------------------------------------------------------------
    def _content(self, data: bytes) -> None:
        if not data:
            return
        if self.cur is None:
            if self.header is not None and not self.seen_section and self.header_size < HEADER_CAP:
                piece = data[:HEADER_CAP - self.header_size]
                self.header.append(piece)
                self.header_size += len(piece)
            return
        for target in (self.parts, self.svc_parts):
            if target is None:
                continue
            room = min(SECTION_CAP - self.size, self.budget.kept)
            if room <= 0:
                self.cur.truncated = True
                continue
            piece = data if len(data) <= room else data[:room]
            if len(piece) < len(data):
                self.cur.truncated = True
            target.append(piece)
            self.size += len(piece)
            self.budget.kept -= len(piece)

    def _close_service(self) -> None:
        if self.cur is not None and self.svc is not None and self.svc_parts is not None:
            body = _decode(b"".join(self.svc_parts))
            self.cur.services.setdefault(self.svc, _TRAILING_DASHES.sub("\n", body) if
                                         _TRAILING_DASHES.search(body) else body)
        self.svc = None
        self.svc_parts = None

    def _close(self) -> None:
        self._close_service()
        if self.cur is not None:
            if self.parts is not None:
                self.cur.text = _decode(b"".join(self.parts))
            if self.cur.truncated:
                self.budget.problems.append(Problem(
                    "bugreport", f"{self.entry} line {self.cur.line}: section '{self.cur.title}' is cut at "
                    f"{self.size} bytes (a section may keep {SECTION_CAP}, all together {KEPT_BUDGET})"))
            if self.kept:
                self.sections.append(self.cur)
        self.cur = None
        self.kept = False
        self.parts = None
        self.services = None
        self.size = 0

    # ---- marker lines ------------------------------------------------------------------------
    def _mark(self, raw: bytes, line: int) -> bool:
        """One line that begins like a marker; False when it is plain content."""
        s = _decode(raw.rstrip(b"\n"))
        if s.startswith("------"):
            if _DURATION.match(s):
                self._close()
                return True
            m = _HEADER.match(s) or _PLAIN_HEADER.match(s)
            if m:
                self._close()
                title = m.group("title")
                src = m.group("src") if "src" in m.groupdict() else ""
                want = self.keep(title, src)
                self.cur = DumpSection(title, src, "", self.entry, line)
                is_dumpsys = "dumpsys" in src
                if want is True:
                    self.parts = []
                    self.services = None
                    self.all_services = is_dumpsys
                elif want and is_dumpsys:
                    self.services = frozenset(want)
                    self.all_services = False
                self.kept = self.parts is not None or self.services is not None
                self.seen_section = True
                return True
            if self.cur is not None and (self.services is not None or self.all_services):
                if self.svc is not None and _SERVICE_END.match(s):
                    self._close_service()
                    return True
            return False
        if s.startswith("DUMP OF SERVICE "):
            if self.cur is None or not (self.services is not None or self.all_services):
                return False
            m = _SERVICE.match(s)
            if not m:
                return False
            self._close_service()
            if self.parts is not None:
                self._content(raw)          # part of the dumpsys section's own text
            name = m.group("name")
            self.svc = name
            if self.all_services or name in (self.services or ()):
                self.svc_parts = []
            return True
        if _BANNER.match(s):
            self._close()
            return True
        return False

    # ---- chunks ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bool:
        """Read one chunk; False once this entry must not be read further."""
        if self.stopped:
            return False
        if self.in_long_line:
            nl = data.find(b"\n")
            if nl < 0:
                self._content(data)
                return True
            self._content(data[:nl + 1])
            self.line += 1
            data = data[nl + 1:]
            self.in_long_line = False
        buf = self.carry + data if self.carry else data
        end = buf.rfind(b"\n") + 1
        if end == 0:
            if len(buf) > LONG_LINE:
                self._content(buf)
                self.carry = b""
                self.in_long_line = True
            else:
                self.carry = buf
            return True
        self.carry = buf[end:]
        self._lines(buf[:end] if end < len(buf) else buf)
        if len(self.carry) > LONG_LINE:
            self._content(self.carry)
            self.carry = b""
            self.in_long_line = True
        return not self.stopped

    def _lines(self, buf: bytes) -> None:
        pos = 0
        counted = 0
        line = self.line
        starts = (0,) if _MARK_AT.match(buf) else ()
        for start in chain(starts, (m.start() + 1 for m in _MARK.finditer(buf))):
            nl = buf.find(b"\n", start) + 1
            if nl - start > LONG_LINE:
                continue
            line += buf.count(b"\n", counted, start)
            counted = start
            if self.marks >= MAX_MARKS:         # every line that looks like one counts: each costs a match
                self.stopped = (f"{self.entry}: more than {MAX_MARKS} lines that look like section "
                                f"lines; not read from line {line}")
                break
            self.marks += 1
            self._content(buf[pos:start])
            pos = start
            if self._mark(buf[start:nl], line):
                pos = nl                # a marker line is no section's text
        if self.stopped:
            self.line = line
            return
        self._content(buf[pos:])
        self.line = line + buf.count(b"\n", counted)

    def finish(self) -> None:
        if self.carry and not self.stopped:
            self.carry += b"\n"
            self._lines(self.carry)
            self.carry = b""
        self._close()

    def header_text(self) -> str:
        return _decode(b"".join(self.header or ()))


@dataclass
class EntryText:
    sections: list[DumpSection]
    header: str
    read: int                   # bytes inflated
    complete: bool
    seen: bool                  # any section header at all (kept or not)


def read_entry(f: BinaryIO, entry: str, keep: Keep, budget: Budget, *, with_header: bool = False) -> EntryText:
    """The sections of one entry (a zip member or a plain file), read in chunks within `budget`."""
    sp = _Splitter(entry, keep, budget, with_header)
    read = 0
    complete = True
    while True:
        if budget.scan <= 0 and f.read(1):
            budget.problems.append(Problem("bugreport", f"{entry}: not read past byte {read}: the bug report's "
                                           f"entries together may inflate to {SCAN_BUDGET} bytes"))
            complete = False
            break
        data = f.read(min(CHUNK, budget.scan))
        if not data:
            break
        read += len(data)
        budget.scan -= len(data)
        if not sp.feed(data):
            budget.problems.append(Problem("bugreport", sp.stopped or f"{entry}: not read further"))
            complete = False
            break
    sp.finish()
    return EntryText(sp.sections, sp.header_text(), read, complete, sp.seen_section)


def split_sections(text: str, entry: str = "", keep: Keep = keep_all) -> list[DumpSection]:
    """Every titled section of a dumpstate text (kept by `keep`), in order. Never raises."""
    data = text.encode("utf-8", "surrogatepass")
    sp = _Splitter(entry, keep, Budget(scan=len(data) + 1, kept=max(KEPT_BUDGET, len(data))), False)
    for i in range(0, len(data), CHUNK):
        sp.feed(data[i:i + CHUNK])
    sp.finish()
    return sp.sections


def split_services(text: str) -> dict[str, str]:
    """`DUMP OF SERVICE name:` blocks of a dumpsys section's text -> {name: output}."""
    secs = split_sections("------ DUMPSYS (dumpsys) ------\n" + text)
    return secs[0].services if secs else {}


# ---- the zip's directory, before zipfile builds one object per entry ------------------------------
MAX_ENTRIES = 100_000           # a bug report lists a few thousand (FS/, proto/, anr/, …)


def zip_entry_count(f: BinaryIO) -> int | None:
    """The entry count in the end-of-central-directory record (zip64 too); None if not found."""
    try:
        f.seek(0, 2)
        size = f.tell()
        tail = min(size, 22 + 65535 + 20)
        f.seek(size - tail)
        data = f.read(tail)
    except OSError:
        return None
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < 22:
        return None
    entries = struct.unpack_from("<H", data, at + 10)[0]
    if entries == 0xFFFF and at >= 20 and data[at - 20:at - 16] == b"PK\x06\x07":
        off = struct.unpack_from("<Q", data, at - 20 + 8)[0]
        try:
            f.seek(off)
            rec = f.read(56)
        except (OSError, ValueError, OverflowError):
            return None
        if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
            entries = struct.unpack_from("<Q", rec, 32)[0]
    return entries
