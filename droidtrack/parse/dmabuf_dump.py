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

`parse(text) -> DmabufDumpResult` (a ParseResult with `mode` and `not_found`).
"<unknown>" names and exporters become None.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from droidtrack.parse._lines import KIB, MAX_LINE, Problems, numbered_lines, to_int
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "dmabuf_dump"


@dataclass(frozen=True, slots=True)
class DumpBuffer:
    """One row of a process's table: the buffer as seen from that process."""
    pid: int
    comm: str
    name: str | None       # None for "<unknown>"
    rss: int               # bytes (the buffer's size, kB-truncated by the tool)
    pss: int               # bytes (size / number of holder processes, kB-truncated)
    nr_procs: int
    inode: int
    exporter: str | None = None   # Android 16+ only; None when absent or "<unknown>"


@dataclass(frozen=True, slots=True)
class DumpProcessTotal:
    pid: int
    comm: str
    rss: int
    pss: int | None        # None from the -a table, which only has per-process size sums


@dataclass(frozen=True, slots=True)
class DumpTotals:
    dmabuf_total: int | None = None
    kernel_rss: int | None = None
    userspace_rss: int | None = None     # Σ per-process RSS (shared buffers counted per process)
    userspace_pss: int | None = None
    userspace_unique: int | None = None  # -a "TOTALS": Σ sizes of unique buffers held by processes


@dataclass(frozen=True, slots=True)
class DumpBufferRefs:
    """One row of the -a table."""
    inode: int
    size: int
    fd_refs: dict[int, int] = field(default_factory=dict)   # pid -> fd refs
    map_refs: dict[int, int] = field(default_factory=dict)  # pid -> map refs
    total_refs: int | None = None   # 2019 "Ref Counts" column
    combined: bool = False          # 2019: fd_refs holds fd+map refs together, map_refs empty


@dataclass(frozen=True, slots=True)
class DumpSysfsBuffer:
    """One row of the -b per-buffer stats (from /sys/kernel/dmabuf/buffers)."""
    inode: int
    size: int               # bytes (this section prints bytes, not kB)
    exporter: str | None


@dataclass(frozen=True, slots=True)
class DumpExporterTotal:
    exporter: str
    count: int
    size: int               # bytes


@dataclass(frozen=True, slots=True)
class DumpSysfsTotal:
    count: int
    size: int               # bytes


DumpRecord = (DumpBuffer | DumpProcessTotal | DumpTotals | DumpBufferRefs | DumpSysfsBuffer
              | DumpExporterTotal | DumpSysfsTotal)


@dataclass
class DmabufDumpResult(ParseResult):
    mode: str = "default"            # "default" | "all" | "per-buffer" | "csv"
    not_found: bool = False          # the tool said "dmabuf info not found"


# -- regular expressions -------------------------------------------------------------------

_ROW = re.compile(r"^(?P<name>.*) +(?P<rss>\d+) kB +(?P<pss>\d+) kB +(?P<nr>\d+) +(?P<ino>\d+)$")
_ROW_EXP = re.compile(r"^(?P<name>.*) +(?P<rss>\d+) kB +(?P<pss>\d+) kB +(?P<nr>\d+) +(?P<ino>\d+)"
                      r" +(?P<exp>\S(?:.*\S)?)$")
_PROC_TOTAL = re.compile(r"^\s*PROCESS TOTAL +(?P<rss>\d+) kB +(?P<pss>\d+) kB$")
_COMM_WORD = re.compile(r"^\s*\S.*:[A-Za-z_]\w*$")
_COMM_PID = re.compile(r"^(?P<comm>.*):(?P<pid>\d+)$")
_TOTALS = re.compile(r"dmabuf total: *(\d+) kB *kernel_rss: *(\d+) kB *userspace_rss: *(\d+) kB"
                     r" *userspace_pss: *(\d+) kB")
_BANNER = re.compile(r"^-{3,} *DMA-BUF (?P<what>.*?) *-{3,}$")
_DASHES = re.compile(r"^-{8,}$")
_TABLE_CELL = re.compile(r"(.{16}):(\d+) *\|")
_TABLE_CELL_LOOSE = re.compile(r" *(.*?):(\d+) *\|")
_REFS_FDMAP = re.compile(r"^ *(\d+)\( *(\d+)\) refs$")
_REFS_ONE = re.compile(r"^ *(\d+) refs$")
_KB_CELL = re.compile(r"^ *(\d+) kB$")
_TABLE_TOTALS = re.compile(r"^TOTALS +(\d+) kB$")
_SYSFS_ROW = re.compile(r"^ *(\d+) \| *(\d+) \| *(.*?) *$")
_EXPORTER_ROW = re.compile(r"^(.*?) \| *(\d+)\| *(\d+) *$")
_SYSFS_TOTAL = re.compile(r"Total DMA-BUF count: *(\d+), *Total DMA-BUF size\(bytes\): *(\d+)")
# CSV
_CSV_ROW = re.compile(r'^"(?P<name>.*)",(?P<rss>\d+),(?P<pss>\d+),(?P<nr>\d+),(?P<ino>\d+)'
                      r'(?:,(?P<exp>.*))?$')
_CSV_PAIR = re.compile(r"^(\d+),(\d+)$")
_CSV_FOUR = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")
_CSV_SYSFS_ROW = re.compile(r'^(\d+),(\d+),"(.*)"$')
_CSV_EXPORTER_ROW = re.compile(r'^"(.*)",(\d+),(\d+)$')
_CSV_TABLE_PID = re.compile(r',?"(.*?):(\d+)(?: size\(kB\))?"(?=,|$)')
_CSV_REFS = re.compile(r'^"(?:(\d+)\((\d+)\) refs)?"$')


def _name(s: str) -> str | None:
    s = s.strip(" ")
    return None if s in ("", "<unknown>") else s


_TABLE_STATES = ("table", "table_totals", "csv_table", "csv_table_totals")


def _csv_pids(rest: str) -> list[tuple[int, str]]:
    out = []
    pos = 0
    while pos < len(rest):
        m = _CSV_TABLE_PID.match(rest, pos)
        if not m:
            break
        out.append((int(m.group(2)), m.group(1)))
        pos = m.end()
    return out


def parse(text: str) -> DmabufDumpResult:
    try:
        return _Parser().run(text)
    except Exception as e:  # noqa: BLE001 - the contract is "never raise": say what happened
        return DmabufDumpResult(problems=[Problem(
            SOURCE, f"internal parser error, output ignored: {type(e).__name__}: {e}")])


class _Parser:
    def __init__(self) -> None:
        self.records: list = []
        self.p = Problems(SOURCE)
        self.modes: list[str] = []
        self.not_found = False
        self.state: str | None = None
        # per-process block
        self.pid: int | None = None
        self.comm = ""
        self.has_exporter = False
        self.rows_rss = 0
        self.rows_n = 0
        # -a table
        self.table_pids: list[tuple[int, str]] = []
        self.table_variant = ""
        self.csv = False
        self.csv_table_totals_header = ""
        self.orphans: list[int] = []

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
        self.flush_orphans()
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
        if s.startswith(("Unable to read DMA-BUF", "Warning:", "Failed to", "Invalid ", "Usage:")):
            self.p.add(f"dmabuf_dump said: {s}", line=n, text=s)
            return

        st = self.state
        if st == "skip":
            return
        if "Dmabuf Inode" in s and "Ref Counts" in s and "|" in s:
            self.table_header(n, line)
            return
        if s.startswith('"Dmabuf Inode","Size(kB)"'):
            self.csv = True
            self.csv_table_header(n, s)
            return
        if s.startswith('"Dmabuf Inode","Size(bytes)"'):
            self.csv = True
            self.state = "perbuf"
            self.mode("per-buffer")
            return
        if s.startswith('"Exporter Name","Total Count"'):
            self.csv = True
            self.state = "exporters"
            return
        if s.startswith('"Total DMA-BUF count"'):
            self.csv = True
            self.state = "csv_sysfs_total"
            return
        if s.startswith('"Name","Rss(kB)"'):
            self.csv = True
            self.has_exporter = '"Exporter"' in s
            self.state = "proc" if self.pid is not None else "proc_orphan"
            if self.pid is None:
                self.p.add("buffer table without a preceding comm:pid line; its rows are skipped",
                           line=n, text=s)
            return
        if s == "PROCESS TOTAL":
            self.state = "csv_proc_total_header"
            return
        if s == '"Rss total(kB)","Pss total(kB)"':
            self.state = "csv_proc_total"
            return
        if s == "TOTALS":
            self.state = "csv_totals_header"
            return
        if s.startswith('"dmabuf total (kB)"'):
            self.csv = True
            self.state = "csv_totals"
            return
        if s.startswith('"Total Size(kB)"'):
            self.csv = True
            self.state = "csv_table_totals"
            self.csv_table_totals_header = s
            return
        if s.split() in (["Name", "Rss", "Pss", "nr_procs", "Inode"],
                         ["Name", "Rss", "Pss", "nr_procs", "Inode", "Exporter"]):
            self.has_exporter = s.endswith("Exporter")
            self.mode("default")
            if self.pid is None and st == "proc_orphan":
                pass
            elif self.pid is None:
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
                self.end_process(n)
            return

        handler = {
            "proc": self.proc_row, "await_header": self.proc_row, "proc_orphan": self.orphan_row,
            "table": self.table_row, "table_totals": self.table_totals,
            "perbuf": self.sysfs_row, "exporters": self.exporter_row,
            "sysfs_total": self.sysfs_total, "csv_sysfs_total": self.csv_sysfs_total,
            "csv_proc_total": self.csv_proc_total, "csv_totals": self.csv_totals,
            "csv_table": self.csv_table_row, "csv_table_totals": self.csv_table_totals,
        }.get(st or "")
        if handler is not None and handler(n, raw, line, s):
            return
        # a process header can start a new block from any state
        if self.process_header(n, raw, line, s):
            return
        if _COMM_WORD.match(line) and st is None:
            self.p.skip(n, s, "process header without a numeric pid (a placeholder?); "
                              "the rows that follow are skipped")
            self.end_process(None)
            self.state = "proc_orphan"
            return
        self.p.skip(n, s)

    # -- default per-process ----------------------------------------------------------------
    def process_header(self, n: int, raw: str, line: str, s: str) -> bool:
        if " kB" in s or "|" in s:
            return False
        m = _COMM_PID.match(line)
        if not m:
            return False
        if raw.startswith("\t"):
            self.csv = True
        self.end_process(None)
        self.pid = int(m.group("pid"))
        self.comm = m.group("comm").strip()
        self.rows_rss = 0
        self.rows_n = 0
        self.state = "await_header"
        return True

    def end_process(self, n: int | None) -> None:
        self.flush_orphans()
        self.pid = None
        self.state = None

    def proc_row(self, n: int, raw: str, line: str, s: str) -> bool:
        if self.pid is None:
            return False
        if self.csv and s.startswith('"'):
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
                    self.p.add("row has an extra column after the inode; read it as the exporter",
                               line=n, text=s)
                self.add_row(m, exp)
                return True
        return False

    def add_row(self, m: re.Match, exporter: str | None) -> None:
        rss = int(m.group("rss")) * KIB
        self.records.append(DumpBuffer(
            pid=self.pid, comm=self.comm, name=_name(m.group("name")), rss=rss,
            pss=int(m.group("pss")) * KIB, nr_procs=int(m.group("nr")),
            inode=int(m.group("ino")), exporter=exporter))
        self.rows_rss += rss
        self.rows_n += 1

    def add_total(self, n: int, rss_kb: int, pss_kb: int) -> None:
        rss = rss_kb * KIB
        self.records.append(DumpProcessTotal(self.pid, self.comm, rss, pss_kb * KIB))
        if self.rows_n and rss != self.rows_rss:
            self.p.add(f"PROCESS TOTAL of {self.comm}:{self.pid} says {rss_kb} kB but its "
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
            self.p.add("rows of a process whose comm:pid line is missing or has no numeric pid "
                       f"skipped (lines {a}-{b})", line=a)
            self.orphans = []

    # CSV per-process totals
    def csv_proc_total(self, n, raw, line, s) -> bool:
        m = _CSV_PAIR.match(s)
        if not m or self.pid is None:
            return False
        self.add_total(n, int(m.group(1)), int(m.group(2)))
        self.state = "proc_done"
        return True

    def csv_totals(self, n, raw, line, s) -> bool:
        m = _CSV_FOUR.match(s)
        if not m:
            return False
        self.records.append(DumpTotals(*(int(g) * KIB for g in m.groups())))
        self.state = None
        return True

    # -- banners / sections -----------------------------------------------------------------
    def banner(self, n: int, s: str, what: str) -> None:
        w = what.lower()
        self.end_process(None)
        if w.startswith("table buffer x process"):
            self.mode("all")
            self.state = "table_header"
        elif w.startswith("per-buffer"):
            self.mode("per-buffer")
            self.state = "perbuf"
        elif w.startswith("exporter"):
            self.mode("per-buffer")
            self.state = "exporters"
        elif w.startswith("total"):
            self.mode("per-buffer")
            self.state = "sysfs_total"
        else:
            self.mode("per-buffer")
            self.state = "skip"
            self.p.add(f"section 'DMA-BUF {what}' is not read by droidtrack; skipped", line=n,
                       text=s)

    # -- -b -------------------------------------------------------------------------------
    def sysfs_row(self, n, raw, line, s) -> bool:
        if s.startswith("Dmabuf Inode |"):
            return True
        if self.csv:
            m = _CSV_SYSFS_ROW.match(s)
        else:
            m = _SYSFS_ROW.match(line)
        if not m:
            return False
        self.records.append(DumpSysfsBuffer(int(m.group(1)), int(m.group(2)), _name(m.group(3))))
        return True

    def exporter_row(self, n, raw, line, s) -> bool:
        if s.startswith("Exporter Name"):
            return True
        m = _CSV_EXPORTER_ROW.match(s) if self.csv else _EXPORTER_ROW.match(line)
        if not m:
            return False
        self.records.append(DumpExporterTotal(m.group(1).strip(), int(m.group(2)),
                                              int(m.group(3))))
        return True

    def sysfs_total(self, n, raw, line, s) -> bool:
        m = _SYSFS_TOTAL.search(s)
        if not m:
            return False
        self.records.append(DumpSysfsTotal(int(m.group(1)), int(m.group(2))))
        self.state = None
        return True

    def csv_sysfs_total(self, n, raw, line, s) -> bool:
        m = _CSV_PAIR.match(s)
        if not m:
            return False
        self.records.append(DumpSysfsTotal(int(m.group(1)), int(m.group(2))))
        self.state = None
        return True

    # -- -a table ---------------------------------------------------------------------------
    def table_header(self, n: int, line: str) -> None:
        self.mode("all")
        self.end_process(None)
        if "Map Ref Counts |" in line:
            self.table_variant = "fdmap"
            rest = line[line.index("Map Ref Counts |") + len("Map Ref Counts |"):]
        elif "Ref Counts |" in line:
            self.table_variant = "total"
            rest = line[line.index("Ref Counts |") + len("Ref Counts |"):]
        else:
            self.p.add("-a table header without Ref Counts columns; table skipped", line=n,
                       text=line)
            self.state = "skip"
            return
        pids: list[tuple[int, str]] = []
        pos = 0
        while rest[pos:].strip():
            m = _TABLE_CELL.match(rest, pos) or _TABLE_CELL_LOOSE.match(rest, pos)
            if not m:
                self.p.add("could not read the process columns of the -a table header; "
                           "table skipped", line=n, text=rest[pos:])
                self.state = "skip"
                return
            pids.append((int(m.group(2)), m.group(1).strip()))
            pos = m.end()
        self.table_pids = pids
        self.state = "table"

    def _refs(self, cells: list[str], inode: int, size: int, total_refs: int | None):
        fd: dict[int, int] = {}
        mp: dict[int, int] = {}
        for (pid, _comm), cell in zip(self.table_pids, cells):
            c = cell.strip()
            if c == "--":
                continue
            m = _REFS_FDMAP.match(c)
            if m:
                if int(m.group(1)):
                    fd[pid] = int(m.group(1))
                if int(m.group(2)):
                    mp[pid] = int(m.group(2))
                continue
            m = _REFS_ONE.match(c)
            if m and int(m.group(1)):
                fd[pid] = int(m.group(1))
                continue
            if m:
                continue
            return None
        return DumpBufferRefs(inode, size, fd, mp, total_refs=total_refs,
                              combined=self.table_variant == "total")

    def table_row(self, n, raw, line, s) -> bool:
        cells = [c.strip() for c in line.split("|")]
        if cells and not cells[-1]:
            cells.pop()
        fixed = 4 if self.table_variant == "fdmap" else 3
        if len(cells) != fixed + len(self.table_pids):
            return False
        ino = to_int(cells[0])
        mk = _KB_CELL.match(cells[1])
        if ino is None or not mk:
            return False
        total_refs = None
        if self.table_variant == "total":
            total_refs = to_int(cells[2])
            if total_refs is None:
                return False
        elif to_int(cells[2]) is None or to_int(cells[3]) is None:
            return False
        rec = self._refs(cells[fixed:], ino, int(mk.group(1)) * KIB, total_refs)
        if rec is None:
            return False
        self.records.append(rec)
        return True

    def table_totals(self, n, raw, line, s) -> bool:
        cells = [c.strip() for c in line.split("|")]
        if cells and not cells[-1]:
            cells.pop()
        m = _TABLE_TOTALS.match(cells[0]) if cells else None
        if not m:
            return False
        self.records.append(DumpTotals(userspace_unique=int(m.group(1)) * KIB))
        per = [c for c in cells[1:] if c != "n/a"]
        kbs = [_KB_CELL.match(c) for c in per]
        if len(per) != len(self.table_pids) or not all(kbs):
            self.p.add("per-process sizes of the -a TOTALS row do not line up with the "
                       "process columns; skipped", line=n, text=s)
        else:
            for (pid, comm), mk in zip(self.table_pids, kbs):
                self.records.append(DumpProcessTotal(pid, comm, int(mk.group(1)) * KIB, None))
        self.state = None
        return True

    # CSV -a table
    def csv_table_header(self, n: int, s: str) -> None:
        self.mode("all")
        self.end_process(None)
        self.table_variant = "fdmap"
        rest = s[len('"Dmabuf Inode","Size(kB)","Fd Ref Counts","Map Ref Counts"'):]
        self.table_pids = _csv_pids(rest)
        self.state = "csv_table"

    def csv_table_row(self, n, raw, line, s) -> bool:
        head = s.split(",", 4)
        if len(head) < 4 or not all(to_int(h) is not None for h in head[:4]):
            return False
        ino, kb = int(head[0]), int(head[1])
        cells = re.findall(r'"[^"]*"', head[4] if len(head) > 4 else "")
        if len(cells) != len(self.table_pids):
            return False
        fd: dict[int, int] = {}
        mp: dict[int, int] = {}
        for (pid, _c), cell in zip(self.table_pids, cells):
            m = _CSV_REFS.match(cell)
            if not m:
                return False
            if m.group(1) is not None:
                if int(m.group(1)):
                    fd[pid] = int(m.group(1))
                if int(m.group(2)):
                    mp[pid] = int(m.group(2))
        self.records.append(DumpBufferRefs(ino, kb * KIB, fd, mp))
        return True

    def csv_table_totals(self, n, raw, line, s) -> bool:
        nums = s.split(",")
        if not all(to_int(x) is not None for x in nums):
            return False
        self.records.append(DumpTotals(userspace_unique=int(nums[0]) * KIB))
        header_pids = _csv_pids(self.csv_table_totals_header[len('"Total Size(kB)"'):])
        if len(header_pids) == len(nums) - 1:
            for (pid, comm), v in zip(header_pids, nums[1:]):
                self.records.append(DumpProcessTotal(pid, comm, int(v) * KIB, None))
        else:
            self.p.add("per-process sizes of the CSV table totals do not line up with its "
                       "header; skipped", line=n, text=s)
        self.state = None
        return True
