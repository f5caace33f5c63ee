"""dmabuf_dump -a (and its CSV form): the buffer x process table, with fd and map reference
counts per process (2019: one combined "Ref Counts" column), and its TOTALS row."""
from __future__ import annotations

import re

from droidtrack.parse._lines import KIB, to_int
from droidtrack.parse.dmabuf_dump_records import DumpBufferRefs, DumpProcessTotal, DumpTotals

_TABLE_CELL = re.compile(r"(.{16}):(\d+) *\|")
_TABLE_CELL_LOOSE = re.compile(r" *(.*?):(\d+) *\|")
_REFS_FDMAP = re.compile(r"^ *(\d+)\( *(\d+)\) refs$")
_REFS_ONE = re.compile(r"^ *(\d+) refs$")
_KB_CELL = re.compile(r"^ *(\d+) kB$")
_TABLE_TOTALS = re.compile(r"^TOTALS +(\d+) kB$")
_CSV_TABLE_PID = re.compile(r',?"(.*?):(\d+)(?: size\(kB\))?"(?=,|$)')
_CSV_REFS = re.compile(r'^"(?:(\d+)\((\d+)\) refs)?"$')



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


class BufferProcessTable:
    """The -a table; shares records, problems and state with the sniffer `c`."""

    def __init__(self, c) -> None:
        self.c = c
        self.table_pids: list[tuple[int, str]] = []
        self.table_variant = ""
        self.csv_table_totals_header = ""

    def table_header(self, n: int, line: str) -> None:
        self.c.mode("all")
        self.c.procs.end_process(None)
        if "Map Ref Counts |" in line:
            self.table_variant = "fdmap"
            rest = line[line.index("Map Ref Counts |") + len("Map Ref Counts |"):]
        elif "Ref Counts |" in line:
            self.table_variant = "total"
            rest = line[line.index("Ref Counts |") + len("Ref Counts |"):]
        else:
            self.c.p.add("-a table header without Ref Counts columns; table skipped", line=n,
                       text=line)
            self.c.state = "skip"
            return
        pids: list[tuple[int, str]] = []
        pos = 0
        while rest[pos:].strip():
            m = _TABLE_CELL.match(rest, pos) or _TABLE_CELL_LOOSE.match(rest, pos)
            if not m:
                self.c.p.add("could not read the process columns of the -a table header; "
                           "table skipped", line=n, text=rest[pos:])
                self.c.state = "skip"
                return
            pids.append((int(m.group(2)), m.group(1).strip()))
            pos = m.end()
        self.table_pids = pids
        self.c.state = "table"

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
        self.c.records.append(rec)
        return True

    def table_totals(self, n, raw, line, s) -> bool:
        cells = [c.strip() for c in line.split("|")]
        if cells and not cells[-1]:
            cells.pop()
        m = _TABLE_TOTALS.match(cells[0]) if cells else None
        if not m:
            return False
        self.c.records.append(DumpTotals(userspace_unique=int(m.group(1)) * KIB))
        per = [c for c in cells[1:] if c != "n/a"]
        kbs = [_KB_CELL.match(c) for c in per]
        if len(per) != len(self.table_pids) or not all(kbs):
            self.c.p.add("per-process sizes of the -a TOTALS row do not line up with the "
                       "process columns; skipped", line=n, text=s)
        else:
            for (pid, comm), mk in zip(self.table_pids, kbs):
                self.c.records.append(DumpProcessTotal(pid, comm, int(mk.group(1)) * KIB, None))
        self.c.state = None
        return True

    def csv_table_header(self, n: int, s: str) -> None:
        self.c.mode("all")
        self.c.procs.end_process(None)
        self.table_variant = "fdmap"
        rest = s[len('"Dmabuf Inode","Size(kB)","Fd Ref Counts","Map Ref Counts"'):]
        self.table_pids = _csv_pids(rest)
        self.c.state = "csv_table"

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
        self.c.records.append(DumpBufferRefs(ino, kb * KIB, fd, mp))
        return True

    def csv_table_totals(self, n, raw, line, s) -> bool:
        nums = s.split(",")
        if not all(to_int(x) is not None for x in nums):
            return False
        self.c.records.append(DumpTotals(userspace_unique=int(nums[0]) * KIB))
        header_pids = _csv_pids(self.csv_table_totals_header[len('"Total Size(kB)"'):])
        if len(header_pids) == len(nums) - 1:
            for (pid, comm), v in zip(header_pids, nums[1:]):
                self.c.records.append(DumpProcessTotal(pid, comm, int(v) * KIB, None))
        else:
            self.c.p.add("per-process sizes of the CSV table totals do not line up with its "
                       "header; skipped", line=n, text=s)
        self.c.state = None
        return True
