"""ION (formats.md §6): debugfs heap and client files of staging ION (3.4-4.11 and vendor
forks), and the sysfs totals of Android's ACK ION / dma-buf heaps.

- `parse_heap(text, heap)` — `/sys/kernel/debug/ion/heaps/<heap>`:
      "%16s %16s %16s" client pid size, dashes, per client "%16s %16u %16zu" (bytes),
      dashes, "orphaned allocations (info is from last known client):", per orphaned buffer
      "%16s %16u %16zu %d %d" (comm pid size kmap_cnt refcount) — or the QCOM 7-column
      variant under a "client pid user user_pid size mcnt rcnt" header —, dashes,
      "%16s %16zu" "total orphaned" / "total " / ["deferred free"], dashes, then the heap's
      own lines, e.g. system-heap pools "%d order %u %s pages in %s pool = %lu total".
  Client names are task comms (≤15 chars, may contain spaces, may be BLANK with the old
  "%16.s" format bug), so rows are read from the right; the QCOM variant is read by its fixed
  column positions first.
- `parse_client(text, client)` — `/sys/kernel/debug/ion/clients/<name>[-<serial>]`:
  "%16.16s: %16zu" heap: bytes lines. User clients are named by pid ("10034-0").
- `parse_totals(lines)` — (lineno, path, content) tuples (as `grepout.split_grep` yields) or
  "path:value" text for `/sys/kernel/ion/total_heaps_kb`, `/sys/kernel/ion/total_pools_kb`,
  `/sys/kernel/dma_heap/total_pools_kb` (kB → bytes).
- `parse_proc_meminfo(lines)` — the `/proc/meminfo` lines some Android vendor kernels add through
  ACK's meminfo vendor hook (mainline and ACK print no dma-buf or GPU line of their own):
  "IonTotalUsed:" / "IonTotalCache:" / "GPUTotalUsed:" (OPPO/OnePlus osvelte), "GpuTotal:"
  (Samsung Xclipse SGPU), each "Key: N kB"; every other line is the kernel's and is passed over.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from droidtrack.parse._lines import MAX_LINE, KIB, Problems, numbered_lines, path_entries, to_int, parser, text_lines


@dataclass(frozen=True, slots=True)
class IonClientUsage:
    heap: str
    client: str          # comm or client name; "" when the kernel printed a blank name
    pid: int | None
    bytes: int


@dataclass(frozen=True, slots=True)
class IonOrphan:
    """A buffer no handle refers to any more (info from its last client)."""
    heap: str
    client: str
    pid: int
    bytes: int
    user: str | None = None      # QCOM variant: the process that last used it
    user_pid: int | None = None
    kmap_cnt: int | None = None
    refcount: int | None = None


@dataclass(frozen=True, slots=True)
class IonHeapTotal:
    heap: str
    total: int | None
    orphaned: int | None
    deferred_free: int | None


@dataclass(frozen=True, slots=True)
class IonPool:
    heap: str
    pages: int
    order: int
    bytes: int
    cached: bool
    zone: str = ""       # "highmem" / "lowmem" as printed


@dataclass(frozen=True, slots=True)
class KernelTotal:
    key: str             # "ion_total_heaps" | "ion_total_pools" | "dma_heap_total_pools"
    bytes: int


# -- heaps ------------------------------------------------------------------------------------

_DASHES = re.compile(r"^-{10,}$")
_CLIENT_HDR = re.compile(r"^\s*client\s+pid\s+size\s*$")
_QCOM_HDR = re.compile(r"^\s*client\s+pid\s+user\s+user_pid\s+size\s+mcnt\s+rcnt\s*$")
_INT = re.compile(r"^-?\d+$")


def _right_ints(line: str, k: int) -> tuple[str, list[int]] | None:
    """Split off the last k whitespace-separated integers; the rest (stripped) is the name.
    Linear in the line length (no backtracking regex over names)."""
    parts = line.rstrip().rsplit(None, k)
    if len(parts) == k:
        parts.insert(0, "")
    if len(parts) != k + 1 or not all(_INT.match(x) for x in parts[1:]):
        return None
    if parts[1].startswith("-"):
        return None    # the pid column is unsigned
    return parts[0].strip(), [int(x) for x in parts[1:]]


def _qcom_loose(line: str):
    """QCOM orphan row with columns not where the fixed layout puts them: the pid between
    client and user must be the only integer word there, else the row is ambiguous."""
    r = _right_ints(line, 4)
    if r is None:
        return None
    left, (upid, size, mc, rc) = r
    words = left.split(" ")
    idx = [i for i, w in enumerate(words) if w.isascii() and w.isdigit()]
    if len(idx) != 1:
        return None
    i = idx[0]
    client = " ".join(words[:i]).strip()
    user = " ".join(words[i + 1:]).strip()
    return client, int(words[i]), user, upid, size, mc, rc


_TOTAL = re.compile(r"^\s*(total orphaned|total|deferred free)\s+(\d+)\s*$")
_POOL = re.compile(r"^\s*(\d+) order (\d+) (\w+) pages\s+in (\w+) pool = (\d+) total\s*$")


def _qcom_fixed(line: str):
    """The msm8998 layout " %15s %8u %16s %8u %16zu %5d %5d" read by position."""
    if len(line) < 63:
        return None
    fields = (line[0:16], line[17:25], line[26:42], line[43:51], line[52:68])
    pid, upid, size = to_int(fields[1]), to_int(fields[3]), to_int(fields[4])
    rest = line[68:].split()
    if None in (pid, upid, size) or len(rest) != 2 or line[16] != " " or line[25] != " ":
        return None
    try:
        m, r = int(rest[0]), int(rest[1])
    except ValueError:
        return None
    return fields[0].strip(), pid, fields[2].strip(), upid, size, m, r


@parser("ion_heap")
def parse_heap(text: str, heap: str, recs: list, p: Problems) -> None:
    section = "clients"
    qcom = False
    totals: dict[str, int] = {}
    for n, line, s in text_lines(text, p):
        if _DASHES.match(s):
            continue
        if _CLIENT_HDR.match(line):
            section = "clients"
            continue
        if s.startswith("orphaned allocations"):
            section = "orphans"
            continue
        if _QCOM_HDR.match(line):
            section, qcom = "orphans", True
            continue
        m = _TOTAL.match(line)
        if m:
            totals[m.group(1)] = int(m.group(2))
            section = "after_totals"
            continue
        m = _POOL.match(line)
        if m:
            pages, order = int(m.group(1)), int(m.group(2))
            recs.append(IonPool(heap, pages, order, int(m.group(5)), m.group(4) == "cached",
                                m.group(3)))
            if pages * 4096 * (1 << order) != int(m.group(5)):
                p.add("pool line: pages x 2^order x 4096 differs from its total (page size "
                      "not 4 KiB?)", line=n, text=s)
            continue
        if section == "clients":
            r = _right_ints(line, 2)
            if r is not None:
                recs.append(IonClientUsage(heap, r[0], r[1][0], r[1][1]))
                continue
        elif section == "orphans":
            if qcom:
                f = _qcom_fixed(line.rstrip())
                if f is None:
                    f = _qcom_loose(line)
                if f is not None:
                    client, pid, user, upid, size, mc, rc = f
                    recs.append(IonOrphan(heap, client, pid, size, user, upid, mc, rc))
                    continue
            else:
                r = _right_ints(line, 4)
                if r is not None:
                    client, (pid, size, kmap, ref) = r
                    recs.append(IonOrphan(heap, client, pid, size, kmap_cnt=kmap, refcount=ref))
                    continue
        p.skip(n, s)
    if totals:
        recs.append(IonHeapTotal(heap, totals.get("total"), totals.get("total orphaned"),
                                 totals.get("deferred free")))
        orphans = sum(r.bytes for r in recs if isinstance(r, IonOrphan))
        if "total orphaned" in totals and orphans and orphans != totals["total orphaned"]:
            p.add(f"orphaned rows add up to {orphans} bytes, 'total orphaned' says "
                  f"{totals['total orphaned']} (rows missing?)")


# -- clients ----------------------------------------------------------------------------------

_CLIENT_FILE_ROW = re.compile(r"^\s*(?P<heap>.*?):\s+(?P<bytes>\d+)(?:\s.*)?$")
_PID_CLIENT = re.compile(r"^(\d+)(?:-\d+)?$")


@parser("ion_client")
def parse_client(text: str, client: str, recs: list, p: Problems) -> None:
    pm = _PID_CLIENT.match(client or "")
    pid = int(pm.group(1)) if pm else None
    for n, line, s in text_lines(text, p):
        if re.match(r"^\s*heap_name:\s+size_in_bytes", line):
            continue
        m = _CLIENT_FILE_ROW.match(line)
        if m:
            recs.append(IonClientUsage(m.group("heap").strip(), client, pid, int(m.group("bytes"))))
            continue
        p.skip(n, s)


# -- sysfs totals -----------------------------------------------------------------------------

_TOTAL_KEYS = {"/sys/kernel/ion/total_heaps_kb": "ion_total_heaps",
               "/sys/kernel/ion/total_pools_kb": "ion_total_pools",
               "/sys/kernel/dma_heap/total_pools_kb": "dma_heap_total_pools"}


@parser("ion_sysfs")
def parse_totals(lines: Iterable | str, recs: list, p: Problems) -> None:
    if isinstance(lines, str):
        entries = []
        for n, line in numbered_lines(lines, p, MAX_LINE):
            if not line.strip():
                continue
            path, sep, content = line.partition(":")
            if not sep:
                p.skip(n, line, "not a 'path:value' line; skipped")
                continue
            entries.append((n, path.strip(), content))
        lines = entries
    for n, path, content, _context in path_entries(lines, p):
        key = _TOTAL_KEYS.get(path)
        if key is None:
            p.add("not an ION / dma-heap total; skipped", line=n, text=content, path=path)
            continue
        v = to_int(content)
        if v is None:
            p.add("value is not a decimal number of kB; skipped", line=n, text=content,
                  path=path)
            continue
        recs.append(KernelTotal(key, v * KIB))


# /proc/meminfo lines that are dma-buf or GPU totals -> KernelTotal keys
MEMINFO_KEYS = {"IonTotalUsed": "meminfo_ion_used", "IonTotalCache": "meminfo_ion_cache",
                "GPUTotalUsed": "meminfo_gpu_used", "GpuTotal": "meminfo_gpu_total"}


@parser("proc_meminfo")
def parse_proc_meminfo(lines: Iterable, recs: list, p: Problems) -> None:
    """(lineno, path, content) tuples of /proc/meminfo; a known key given twice keeps the first."""
    seen = set()
    for n, _path, content, _context in path_entries(lines, p):
        key, sep, rest = content.partition(":")
        name = MEMINFO_KEYS.get(key.strip())
        if not sep or name is None:
            continue
        num, _, unit = rest.strip().partition(" ")
        v = to_int(num)
        if v is None or unit.strip() != "kB":
            p.add(f"/proc/meminfo {key.strip()}: not 'N kB'; skipped", line=n, text=content)
            continue
        if name in seen:
            p.add(f"/proc/meminfo {key.strip()} given twice; the first is kept", line=n, text=content)
            continue
        seen.add(name)
        recs.append(KernelTotal(name, v * KIB))
