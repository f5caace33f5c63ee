"""dmabuf_dump's default mode (and its CSV form): per process, `comm:pid`, a table of the
buffers it holds (Name Rss Pss nr_procs Inode [Exporter]), PROCESS TOTAL; the totals line. Read
for parse/dmabuf_dump.py, which decides which mode each line belongs to."""
from __future__ import annotations

import re

from droidtrack.parse._lines import KIB
from droidtrack.parse.dmabuf_dump_records import DumpBuffer, DumpProcessTotal, DumpTotals, name_of as _name

_ROW = re.compile(r"^(?P<name>.*) +(?P<rss>\d+) kB +(?P<pss>\d+) kB +(?P<nr>\d+) +(?P<ino>\d+)$")
_ROW_EXP = re.compile(r"^(?P<name>.*) +(?P<rss>\d+) kB +(?P<pss>\d+) kB +(?P<nr>\d+) +(?P<ino>\d+)"
                      r" +(?P<exp>\S(?:.*\S)?)$")
_PROC_TOTAL = re.compile(r"^\s*PROCESS TOTAL +(?P<rss>\d+) kB +(?P<pss>\d+) kB$")
COMM_WORD = re.compile(r"^\s*\S.*:[A-Za-z_]\w*$")
_COMM_PID = re.compile(r"^(?P<comm>.*):(?P<pid>\d+)$")
_CSV_ROW = re.compile(r'^"(?P<name>.*)",(?P<rss>\d+),(?P<pss>\d+),(?P<nr>\d+),(?P<ino>\d+)'
                      r'(?:,(?P<exp>.*))?$')
_CSV_PAIR = re.compile(r"^(\d+),(\d+)$")
_CSV_FOUR = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")


def is_row(line: str) -> bool:
    """A per-process table row in the tool's shape ("NAME  N kB  N kB  N  INODE [EXPORTER]"),
    whatever its name says ("Failed to", "Warning: x" are names too)."""
    return bool(_ROW.match(line) or _ROW_EXP.match(line))


class ProcessTables:
    """The per-process tables; shares records, problems and state with the sniffer `c`."""

    def __init__(self, c) -> None:
        self.c = c
        self.pid: int | None = None
        self.comm = ""
        self.has_exporter = False
        self.rows_rss = 0
        self.rows_n = 0
        self.orphans: list[int] = []

    def process_header(self, n: int, raw: str, line: str, s: str) -> bool:
        if " kB" in s or "|" in s:
            return False
        m = _COMM_PID.match(line)
        if not m:
            return False
        if raw.startswith("\t"):
            self.c.csv = True
        self.end_process(None)
        self.pid = int(m.group("pid"))
        self.comm = m.group("comm").strip()
        self.rows_rss = 0
        self.rows_n = 0
        self.c.state = "await_header"
        return True

    def end_process(self, n: int | None) -> None:
        self.flush_orphans()
        self.pid = None
        self.c.state = None

    def proc_row(self, n: int, raw: str, line: str, s: str) -> bool:
        if self.pid is None:
            return False
        if self.c.csv and s.startswith('"'):
            m = _CSV_ROW.match(s)
            if not m:
                return False
            exp = m.group("exp")
            self.add_row(m, _name(exp.strip('"')) if exp is not None else None)
            return True
        m = _PROC_TOTAL.match(line)
        if m:
            self.add_total(n, int(m.group("rss")), int(m.group("pss")))
            return True
        order = (_ROW_EXP, _ROW) if self.has_exporter else (_ROW, _ROW_EXP)
        for rx in order:
            m = rx.match(line)
            if m:
                exp = _name(m.group("exp")) if rx is _ROW_EXP else None
                if rx is _ROW_EXP and not self.has_exporter:
                    self.c.p.add("row has an extra column after the inode; read it as the exporter",
                               line=n, text=s)
                self.add_row(m, exp)
                return True
        return False

    def add_row(self, m: re.Match, exporter: str | None) -> None:
        rss = int(m.group("rss")) * KIB
        self.c.records.append(DumpBuffer(
            pid=self.pid, comm=self.comm, name=_name(m.group("name")), rss=rss,
            pss=int(m.group("pss")) * KIB, nr_procs=int(m.group("nr")),
            inode=int(m.group("ino")), exporter=exporter))
        self.rows_rss += rss
        self.rows_n += 1

    def add_total(self, n: int, rss_kb: int, pss_kb: int) -> None:
        rss = rss_kb * KIB
        self.c.records.append(DumpProcessTotal(self.pid, self.comm, rss, pss_kb * KIB))
        if self.rows_n and rss != self.rows_rss:
            self.c.p.add(f"PROCESS TOTAL of {self.comm}:{self.pid} says {rss_kb} kB but its "
                       f"{self.rows_n} rows add up to {self.rows_rss // KIB} kB "
                       "(rows missing or edited?)", line=n)

    def orphan_row(self, n: int, raw: str, line: str, s: str) -> bool:
        if (_ROW.match(line) or _ROW_EXP.match(line) or s.startswith("PROCESS TOTAL")
                or _CSV_ROW.match(s)):
            if not self.orphans:
                self.orphans = [n, n]
            self.orphans[1] = n
            return True
        return False

    def flush_orphans(self) -> None:
        if self.orphans:
            a, b = self.orphans
            self.c.p.add("rows of a process whose comm:pid line is missing or has no numeric pid "
                       f"skipped (lines {a}-{b})", line=a)
            self.orphans = []

    def csv_proc_total(self, n, raw, line, s) -> bool:
        m = _CSV_PAIR.match(s)
        if not m or self.pid is None:
            return False
        self.add_total(n, int(m.group(1)), int(m.group(2)))
        self.c.state = "proc_done"
        return True

    def csv_totals(self, n, raw, line, s) -> bool:
        m = _CSV_FOUR.match(s)
        if not m:
            return False
        self.c.records.append(DumpTotals(*(int(g) * KIB for g in m.groups())))
        self.c.state = None
        return True
