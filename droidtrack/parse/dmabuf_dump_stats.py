"""dmabuf_dump -b (and its CSV form): the sysfs statistics per buffer (inode, bytes,
exporter), per exporter, and in total."""
from __future__ import annotations

import re

from droidtrack.parse.dmabuf_dump_records import DumpExporterTotal, DumpSysfsBuffer, DumpSysfsTotal, name_of as _name

_SYSFS_ROW = re.compile(r"^ *(\d+) \| *(\d+) \| *(.*?) *$")
_EXPORTER_ROW = re.compile(r"^(.*?) \| *(\d+)\| *(\d+) *$")
_SYSFS_TOTAL = re.compile(r"Total DMA-BUF count: *(\d+), *Total DMA-BUF size\(bytes\): *(\d+)")
_CSV_SYSFS_ROW = re.compile(r'^(\d+),(\d+),"(.*)"$')
_CSV_EXPORTER_ROW = re.compile(r'^"(.*)",(\d+),(\d+)$')
_CSV_PAIR = re.compile(r"^(\d+),(\d+)$")


class SysfsStats:
    """The -b sections; shares records, problems and state with the sniffer `c`."""

    def __init__(self, c) -> None:
        self.c = c

    def sysfs_row(self, n, raw, line, s) -> bool:
        if s.startswith("Dmabuf Inode |"):
            return True
        if self.c.csv:
            m = _CSV_SYSFS_ROW.match(s)
        else:
            m = _SYSFS_ROW.match(line)
        if not m:
            return False
        self.c.records.append(DumpSysfsBuffer(int(m.group(1)), int(m.group(2)), _name(m.group(3))))
        return True

    def exporter_row(self, n, raw, line, s) -> bool:
        if s.startswith("Exporter Name"):
            return True
        m = _CSV_EXPORTER_ROW.match(s) if self.c.csv else _EXPORTER_ROW.match(line)
        if not m:
            return False
        self.c.records.append(DumpExporterTotal(m.group(1).strip(), int(m.group(2)),
                                              int(m.group(3))))
        return True

    def sysfs_total(self, n, raw, line, s) -> bool:
        """The total line: "Total DMA-BUF count: N, Total DMA-BUF size(bytes): B", or under the CSV
        header (state csv_sysfs_total) "N,B"."""
        m = _CSV_PAIR.match(s) if self.c.state == "csv_sysfs_total" else _SYSFS_TOTAL.search(s)
        if not m:
            return False
        self.c.records.append(DumpSysfsTotal(int(m.group(1)), int(m.group(2))))
        self.c.state = None
        return True
