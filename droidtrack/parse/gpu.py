"""GPU memory sources (formats.md §9): Mali `gpu_memory`, KGSL per-pid sysfs, `dumpsys gpu --gpumem`.

- `parse_mali(text)`: Mali kbase debugfs `/sys/kernel/debug/mali0/gpu_memory`.
  Device line `"%-16s  %10u"` (name, used pages) and per context `"  kctx-0x%pK %10u"`
  (pages); vendor trees (MTK, Realtek) append the owning tgid (`kctx-0x… pages tgid`);
  Samsung-style trees print `kctx-0x… pid:%u tgid:%u comm:%s all: %u …` followed by per-region
  tables and "native memory overall" lines, which are not read. Pages are 4096 bytes.
  Mainline prints no pid at all: those records have `pid=None` (GPU memory that cannot be
  attributed to a process from this file alone).
- `parse_kgsl(entries)`: (lineno, path, content) tuples as yielded by
  `droidtrack.parse.grepout.split_grep` for `/sys/class/kgsl/kgsl/proc/<pid>/<file>`,
  `…/proc/<pid>/memtype/<type>` and the global `/sys/class/kgsl/kgsl/<counter>` files; each
  file holds one decimal number of bytes.
- `parse_dumpsys_gpu(text)`: `dumpsys gpu --gpumem` ("Memory snapshot for GPU %u:",
  "Global total: %lu", "Proc %u total: %lu[, imported: %lu]"), bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from droidtrack.parse._lines import PAGE, Problems, path_entries, to_int, parser, text_lines


@dataclass(frozen=True, slots=True)
class GpuProcMemory:
    """GPU memory of one process (or one GPU context when the pid is unknown), in bytes.

    source: "mali" | "kgsl" | "gpu_mem"; kind: "kctx" (Mali), the KGSL file name ("user",
    "kernel", "imported_mem", "gpumem_mapped", "memtype/texture", ...), "total"/"imported"
    (gpu_mem).
    """
    pid: int | None
    source: str
    kind: str
    bytes: int
    ctx: str | None = None      # Mali kctx pointer text (hashed or zero under kptr_restrict)
    comm: str | None = None
    gpu: int | None = None      # gpu_mem GPU id; Mali device name is in GpuTotal


@dataclass(frozen=True, slots=True)
class GpuTotal:
    """A device-wide GPU number in bytes: Mali device line (kind "device", device "mali0"),
    KGSL global counters (kind = file name: "page_alloc", "vmalloc", ...), gpu_mem
    "Global total" (kind "global")."""
    source: str
    bytes: int
    kind: str = "total"
    device: str | None = None
    gpu: int | None = None


# -- Mali -------------------------------------------------------------------------------------

_MALI_DEV = re.compile(r"^\s*([A-Za-z][\w.-]*)\s+(\d+)\s*$")
_MALI_KCTX = re.compile(r"^\s*kctx-0x([0-9a-fA-F]+)\s+(\d+)(?:\s+(\d+))?(?:\s+(\d+))?\s*$")
_MALI_SAMSUNG = re.compile(r"^\s*kctx-0x([0-9a-fA-F]+)\s+pid:\s*(\d+)\s+tgid:\s*(\d+)\s+"
                           r"comm:(.*?)\s+all:\s*(\d+)")


@parser("mali_gpu_memory")
def parse_mali(text: str, recs: list, p: Problems) -> None:
    in_kctx_details = False
    for n, line, s in text_lines(text, p):
        m = _MALI_SAMSUNG.match(line)
        if m:
            recs.append(GpuProcMemory(int(m.group(3)), "mali", "kctx", int(m.group(5)) * PAGE,
                                      ctx=m.group(1), comm=m.group(4)))
            in_kctx_details = True
            continue
        m = _MALI_KCTX.match(line)
        if m:
            in_kctx_details = False
            pages = int(m.group(2))
            pid = None
            if m.group(3) is not None and m.group(4) is None:
                pid = int(m.group(3))          # MTK / Realtek: pages, tgid
            elif m.group(4) is not None:
                p.add("kctx line with two extra columns (vendor variant) not understood; "
                      "pages kept, pid not attributed", line=n, text=s)
            recs.append(GpuProcMemory(pid, "mali", "kctx", pages * PAGE, ctx=m.group(1)))
            continue
        if s.startswith("kctx-"):
            p.skip(n, s, "kctx line not understood; skipped")
            continue
        m = _MALI_DEV.match(line)
        if m:
            in_kctx_details = False
            recs.append(GpuTotal("mali", int(m.group(2)) * PAGE, kind="device",
                                 device=m.group(1)))
            continue
        if in_kctx_details:
            continue   # per-region tables and "native memory overall" of the Samsung variant
        p.skip(n, s)


# -- KGSL -------------------------------------------------------------------------------------

_KGSL_PROC = re.compile(r"^/sys/class/kgsl/kgsl/proc/(\d+)/([\w./-]+)$")
_KGSL_GLOBAL = re.compile(r"^/sys/class/kgsl/kgsl/(\w+)$")


@parser("kgsl")
def parse_kgsl(entries: Iterable, recs: list, p: Problems) -> None:
    for lineno, path, content, context in path_entries(entries, p):
        if context:
            continue   # grep -A context line: never a KGSL value
        proc = _KGSL_PROC.match(path)
        total = None if proc else _KGSL_GLOBAL.match(path)
        if not (proc or total):
            p.add("not a KGSL sysfs path; skipped", line=lineno, text=content, path=path)
            continue
        value = to_int(content)
        if value is None:
            p.add("KGSL value is not a decimal number; skipped", line=lineno, text=content, path=path)
        elif proc:
            recs.append(GpuProcMemory(int(proc.group(1)), "kgsl", proc.group(2), value))
        else:
            recs.append(GpuTotal("kgsl", value, kind=total.group(1)))


# -- dumpsys gpu --gpumem -----------------------------------------------------------------------

_SNAPSHOT = re.compile(r"^\s*Memory snapshot for GPU (\d+):\s*$")
_GLOBAL = re.compile(r"^\s*Global total:\s*(\d+|N/A)\s*$")
_PROC = re.compile(r"^\s*Proc (\d+) total:\s*(\d+)(?:,\s*imported:\s*(\d+))?\s*$")
_EMPTY = re.compile(r"GPU memory (total usage map is|usage maps are) empty")


@parser("dumpsys_gpu")
def parse_dumpsys_gpu(text: str, recs: list, p: Problems) -> None:
    gpu: int | None = None
    for n, line, s in text_lines(text, p):
        m = _SNAPSHOT.match(line)
        if m:
            gpu = int(m.group(1))
            continue
        if _EMPTY.search(s):
            p.add(f"dumpsys gpu said: {s}", line=n)
            continue
        if "Failed to initialize GPU memory eBPF" in s:
            p.add(f"dumpsys gpu said: {s}", line=n)
            continue
        m = _GLOBAL.match(line)
        if m:
            if m.group(1) == "N/A":
                p.add("Global total is N/A", line=n, text=s)
            else:
                recs.append(GpuTotal("gpu_mem", int(m.group(1)), kind="global", gpu=gpu))
            continue
        m = _PROC.match(line)
        if m:
            pid = int(m.group(1))
            recs.append(GpuProcMemory(pid, "gpu_mem", "total", int(m.group(2)), gpu=gpu))
            if m.group(3) is not None:
                recs.append(GpuProcMemory(pid, "gpu_mem", "imported", int(m.group(3)), gpu=gpu))
            continue
        if gpu is not None:
            p.skip(n, s)
        # before the first snapshot line: other dumpsys gpu sections (GpuStats, ...), not ours
