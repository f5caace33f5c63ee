"""Vendor per-process dma-buf nodes ("dmaprocs"; vivo `/sys/kernel/debug/vivo_dma_buf/dmaprocs`,
OPLUS `/proc/osvelte/dma_buf/procinfo`, reportedly QCOM `/sys/kernel/debug/dma_buf/dmaprocs`).

Per process (formats.md §1.4):
    "\\n%s (PID %d) size: %ld kB\\nDMA Buffers:\\n"              comm, tgid, Σ sizes / 1024
    "%-8s\\t%-8s\\t%-8s\\t%-10s\\t%-10s\\t%-s\\n"                ino size count flags mode exp_name
    "%08lu\\t%-8zu\\t%-8ld\\t0x%08x\\t0x%08x\\t%-s\\t%-s\\n"      size in kB (truncated), name last
Sizes are kB here (bytes = kB * 1024, so a buffer under 1 kB shows as 0). The comm may hold
anything, so the header is read from the right (" (PID n) size: N kB"). With tabs intact the
exporter and name are the 6th and 7th tab fields; with tabs expanded to spaces the exporter is
taken as one word and the rest is the name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from droidtrack.parse._lines import KIB, Problems, to_int, text_lines
from droidtrack.parse._lines import guard as _guard
from droidtrack.model.problems import ParseResult

SOURCE = "dmaprocs"


@dataclass(frozen=True, slots=True)
class DmaprocsProcess:
    pid: int
    comm: str
    total: int          # bytes (kB * 1024 as printed)


@dataclass(frozen=True, slots=True)
class DmaprocsBuffer:
    pid: int
    inode: int
    size: int           # bytes (kB * 1024 as printed: truncated to whole kB)
    count: int          # the file's refcount
    exporter: str
    name: str | None
    flags: int | None = None
    mode: int | None = None


_HEADER = re.compile(r"^(?P<comm>.*) \(PID (?P<pid>\d+)\) size: (?P<kb>\d+) kB\s*$")
_COLS = re.compile(r"^\s*ino\s+size\s+count\s+flags\s+mode\s+exp_name\s*$")
_SPACED = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?\d+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)"
                     r"(?:\s+(.*?))?\s*$")


def _name(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.rstrip("\r")
    return None if s in ("", "<none>", "(null)") else s


def parse(text: str) -> ParseResult:
    return _guard(SOURCE, _parse, text)


def _row(pid: int, line: str) -> DmaprocsBuffer | None:
    parts = line.split("\t")
    if len(parts) >= 6:
        f = [x.strip() for x in parts[:5]]
        ino, kb, count = to_int(f[0]), to_int(f[1]), to_int(f[2].lstrip("-"))
        if (ino is not None and kb is not None and count is not None
                and f[3].lower().startswith("0x") and f[4].lower().startswith("0x")):
            try:
                flags, mode = int(f[3], 16), int(f[4], 16)
            except ValueError:
                return None
            exporter = parts[5].strip()
            name = "\t".join(parts[6:]) if len(parts) > 6 else None
            if f[2].startswith("-"):
                count = -count
            return DmaprocsBuffer(pid, ino, kb * KIB, count, exporter, _name(name), flags, mode)
    m = _SPACED.match(line)
    if m:
        return DmaprocsBuffer(pid, int(m.group(1)), int(m.group(2)) * KIB, int(m.group(3)),
                              m.group(6), _name(m.group(7)), int(m.group(4), 16),
                              int(m.group(5), 16))
    return None


def _parse(text: str) -> ParseResult:
    recs: list = []
    p = Problems(SOURCE)
    pid: int | None = None
    comm = ""
    rows_kb = 0
    header_kb = 0
    header_line = 0

    def close() -> None:
        # the header's size is Σ bytes / 1024, the rows Σ (bytes / 1024): rows may be lower by
        # less than one kB per buffer, never higher
        if pid is not None and rows_kb > header_kb:
            p.add(f"rows of {comm} (PID {pid}) add up to {rows_kb} kB, more than the "
                  f"{header_kb} kB its header says", line=header_line)

    for n, line, s in text_lines(text, p):
        m = _HEADER.match(line)
        if m:
            close()
            pid, comm = int(m.group("pid")), m.group("comm").strip()
            header_kb, rows_kb, header_line = int(m.group("kb")), 0, n
            recs.append(DmaprocsProcess(pid, comm, header_kb * KIB))
            continue
        if s == "DMA Buffers:" or _COLS.match(line):
            continue
        if pid is not None:
            r = _row(pid, line)
            if r is not None:
                recs.append(r)
                rows_kb += r.size // KIB
                continue
        elif _row(0, line) is not None:
            p.skip(n, s, "buffer row before any '(PID n)' header; skipped")
            continue
        p.skip(n, s)
    close()
    return ParseResult(recs, p.done())
