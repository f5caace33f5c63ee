"""AOSP `dmabuf_dump` output (system/memory/libmeminfo/libdmabufinfo/tools), every mode.

Formats (docs formats.md §7), all sizes printed in kB (the tool divides bytes by 1024 and
truncates), converted here to bytes as kB * 1024:

- default, per process (2019-2024; Android 16 adds a right-aligned Exporter column):
      "%16s:%-5d"                       comm:pid
      "%22s %16s %16s %16s %16s[ %22s]"  Name Rss Pss nr_procs Inode [Exporter]
      "%22s %13lu kB %13lu kB %16zu %16lu[  %22s]"
      "%22s %13lu kB %13lu kB %16s"       PROCESS TOTAL
      "----------------------"
  and finally "dmabuf total: N kB kernel_rss: N kB userspace_rss: N kB userspace_pss: N kB".
  Names are right-aligned in 22 columns, so a row is read from the right: the kB columns and
  the two integers are fixed, the name is whatever is left (spaces included).
- `-a`: a buffer x process table separated by '|'; 2019 has one "Ref Counts" column (the
  buffer's total refs) and "%17d refs" cells (fd+map refs of that process together); later
  versions "Fd Ref Counts | Map Ref Counts" (numbers of processes) and "%9d(%6d) refs" cells.
- `-b`: per-buffer (inode, bytes, exporter), per-exporter and total sysfs stats. Other 2021
  sections (attachments, per-device) are skipped with a problem.
- `-o csv` (2023+): the same data as CSV; the process header is "\\tcomm:pid".
- "dmabuf info not found ¯\\_(ツ)_/¯" when no process holds a buffer.

`parse(text) -> DmabufDumpResult` (a ParseResult with `mode` and `not_found`). This module is the
sniffer: it reads the lines every mode shares (banners, the totals line, the tool's messages) and
hands each other line to the parser of the mode it belongs to: dmabuf_dump_procs.py (default),
dmabuf_dump_table.py (-a), dmabuf_dump_stats.py (-b), each also reading its CSV form.
"<unknown>" names and exporters become None.
"""
from __future__ import annotations

import re

from droidtrack.model.problems import Problem
from droidtrack.parse._lines import KIB, MAX_LINE, Problems, numbered_lines
from droidtrack.parse.dmabuf_dump_procs import COMM_WORD, ProcessTables, is_row
from droidtrack.parse.dmabuf_dump_records import (DmabufDumpResult, DumpBuffer, DumpBufferRefs,  # noqa: F401
                                                  DumpExporterTotal, DumpProcessTotal, DumpRecord,
                                                  DumpSysfsBuffer, DumpSysfsTotal, DumpTotals)
from droidtrack.parse.dmabuf_dump_stats import SysfsStats
from droidtrack.parse.dmabuf_dump_table import BufferProcessTable

SOURCE = "dmabuf_dump"

_TOTALS = re.compile(r"dmabuf total: *(\d+) kB *kernel_rss: *(\d+) kB *userspace_rss: *(\d+) kB"
                     r" *userspace_pss: *(\d+) kB")
_BANNER = re.compile(r"^-{3,} *DMA-BUF (?P<what>.*?) *-{3,}$")
_DASHES = re.compile(r"^-{8,}$")

_TABLE_STATES = ("table", "table_totals", "csv_table", "csv_table_totals")


def parse(text: str) -> DmabufDumpResult:
    try:
        return _Sniffer().run(text)
    except Exception as e:  # noqa: BLE001 - the contract is "never raise": say what happened
        return DmabufDumpResult(problems=[Problem(
            SOURCE, f"internal parser error, output ignored: {type(e).__name__}: {e}")])


# CSV header lines that start a section, by how they begin: (prefix, the state they start, the
# mode they say the dump is in, if any); lines that are a section's whole header: line -> state
_CSV_HEADERS = (
    ('"Dmabuf Inode","Size(bytes)"', "perbuf", "per-buffer"),
    ('"Exporter Name","Total Count"', "exporters", None),
    ('"Total DMA-BUF count"', "csv_sysfs_total", None),
    ('"dmabuf total (kB)"', "csv_totals", None),
)
# the banner of a section ("DMA-BUF <what>", lowercased): (how it starts, the mode, the state it starts)
_BANNERS = (("table buffer x process", "all", "table_header"), ("per-buffer", "per-buffer", "perbuf"),
            ("exporter", "per-buffer", "exporters"), ("total", "per-buffer", "sysfs_total"))
_CSV_LINES = {"PROCESS TOTAL": "csv_proc_total_header", '"Rss total(kB)","Pss total(kB)"': "csv_proc_total",
              "TOTALS": "csv_totals_header"}


class _Sniffer:
    """Which mode each line belongs to; the state the mode parsers share."""

    def __init__(self) -> None:
        self.records: list = []
        self.p = Problems(SOURCE)
        self.modes: list[str] = []
        self.not_found = False
        self.state: str | None = None
        self.csv = False
        self.procs = ProcessTables(self)
        self.table = BufferProcessTable(self)
        self.stats = SysfsStats(self)

    def mode(self, m: str) -> None:
        if m not in self.modes:
            self.modes.append(m)

    def run(self, text: str) -> DmabufDumpResult:
        for n, raw in numbered_lines(text):
            line = raw.rstrip()
            s = line.strip()
            if not s:
                continue
            if (len(line) > MAX_LINE and self.state not in _TABLE_STATES
                    and "Dmabuf Inode" not in s[:60]):
                # only -a table lines grow with the number of processes; any other line
                # this long is garbage (and would make the row patterns backtrack)
                self.p.skip(n, s, f"line longer than {MAX_LINE} characters; skipped")
                continue
            self.line(n, raw, line, s)
        self.procs.flush_orphans()
        if self.csv:
            mode = "csv"
        elif "all" in self.modes:
            mode = "all"
        elif "per-buffer" in self.modes:
            mode = "per-buffer"
        else:
            mode = "default"
        return DmabufDumpResult(self.records, self.p.done(), mode=mode, not_found=self.not_found)

    # -- dispatch ----------------------------------------------------------------------------
    def line(self, n: int, raw: str, line: str, s: str) -> None:
        if s.startswith("dmabuf info not found"):
            self.not_found = True
            self.state = None
            return
        m = _TOTALS.search(s)
        if m:
            kb = [int(g) * KIB for g in m.groups()]
            self.records.append(DumpTotals(*kb))
            self.state = None
            self.mode("default")
            return
        m = _BANNER.match(s)
        if m:
            self.banner(n, s, m.group("what"))
            return
        if s.startswith(("Unable to read DMA-BUF", "Warning:", "Failed to", "Invalid ", "Usage:")) and not (
                self.state in ("proc", "await_header", "proc_orphan") and is_row(line)):
            self.p.add(f"dmabuf_dump said: {s}", line=n, text=s)
            return

        st = self.state
        if st == "skip":
            return
        if "Dmabuf Inode" in s and "Ref Counts" in s and "|" in s:
            self.table.table_header(n, line)
            return
        if s.startswith('"Dmabuf Inode","Size(kB)"'):
            self.csv = True
            self.table.csv_table_header(n, s)
            return
        for prefix, state, mode in _CSV_HEADERS:
            if s.startswith(prefix):
                self.csv = True
                self.state = state
                if mode is not None:
                    self.mode(mode)
                return
        state = _CSV_LINES.get(s)
        if state is not None:
            self.state = state
            return
        if s.startswith('"Name","Rss(kB)"'):
            self.csv = True
            self.procs.has_exporter = '"Exporter"' in s
            self.state = "proc" if self.procs.pid is not None else "proc_orphan"
            if self.procs.pid is None:
                self.p.add("buffer table without a preceding comm:pid line; its rows are skipped",
                           line=n, text=s)
            return
        if s.startswith('"Total Size(kB)"'):
            self.csv = True
            self.state = "csv_table_totals"
            self.table.csv_table_totals_header = s
            return
        if s.split() in (["Name", "Rss", "Pss", "nr_procs", "Inode"],
                         ["Name", "Rss", "Pss", "nr_procs", "Inode", "Exporter"]):
            self.procs.has_exporter = s.endswith("Exporter")
            self.mode("default")
            if self.procs.pid is None and st == "proc_orphan":
                pass
            elif self.procs.pid is None:
                self.p.add("buffer table without a preceding comm:pid line; its rows are skipped",
                           line=n, text=s)
                self.state = "proc_orphan"
            else:
                self.state = "proc"
            return
        if _DASHES.match(s):
            if st in ("table", "csv_table"):
                self.state = "table_totals" if st == "table" else "csv_table_totals_wait"
            else:
                self.procs.end_process(n)
            return

        handler = {
            "proc": self.procs.proc_row, "await_header": self.procs.proc_row, "proc_orphan": self.procs.orphan_row,
            "table": self.table.table_row, "table_totals": self.table.table_totals,
            "perbuf": self.stats.sysfs_row, "exporters": self.stats.exporter_row,
            "sysfs_total": self.stats.sysfs_total, "csv_sysfs_total": self.stats.sysfs_total,
            "csv_proc_total": self.procs.csv_proc_total, "csv_totals": self.procs.csv_totals,
            "csv_table": self.table.csv_table_row, "csv_table_totals": self.table.csv_table_totals,
        }.get(st or "")
        if handler is not None and handler(n, raw, line, s):
            return
        # a process header can start a new block from any state
        if self.procs.process_header(n, raw, line, s):
            return
        if COMM_WORD.match(line) and st is None:
            self.p.skip(n, s, "process header without a numeric pid (a placeholder?); "
                              "the rows that follow are skipped")
            self.procs.end_process(None)
            self.state = "proc_orphan"
            return
        self.p.skip(n, s)

    # -- banners / sections -----------------------------------------------------------------
    def banner(self, n: int, s: str, what: str) -> None:
        w = what.lower()
        self.procs.end_process(None)
        for start, mode, state in _BANNERS:
            if w.startswith(start):
                self.mode(mode)
                self.state = state
                return
        self.mode("per-buffer")
        self.state = "skip"
        self.p.add(f"section 'DMA-BUF {what}' is not read by droidtrack; skipped", line=n, text=s)
