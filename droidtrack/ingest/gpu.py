"""The feeder of GPU drivers' and the framework's GPU memory figures -> Builder: Mali
`gpu_memory`, KGSL sysfs (/sys/class/kgsl), `dumpsys gpu` (gpu_mem). They name no buffer.

Keys (docs/formats.md): per process `<source>.<kind>` (mali.kctx, kgsl.<file>, gpu_mem.total,
gpu_mem.imported); device-wide `gpu.<source>.<kind>` (gpu.mali.device, gpu.kgsl.<file>,
gpu.gpu_mem.global), or `gpu.<source>` for a driver's plain total.
"""
from __future__ import annotations

from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import gpu as p_gpu


def feed_gpu_records(b: Builder, res, status: str, *, where: str = "") -> int:
    """Feed the records of one p_gpu parse; `status` is the key of its SourceStatus."""
    b.problems.extend(res.problems)
    n = 0
    for r in res.records:
        if isinstance(r, p_gpu.GpuProcMemory) and r.pid is not None:
            rep = b.process(r.pid).reported
            key = f"{r.source}.{r.kind}"
            rep[key] = rep.get(key, 0) + r.bytes
            n += 1
        elif isinstance(r, p_gpu.GpuTotal):
            b.reported[f"gpu.{r.source}" + (f".{r.kind}" if r.kind and r.kind != "total" else "")] = r.bytes
    at = f", {where}" if where else ""
    b.sources[status] = SourceStatus("ok", f"{n} per-process figures{at}")
    return n


def feed_mali(b: Builder, text: str, *, where: str = "") -> int:
    return feed_gpu_records(b, p_gpu.parse_mali(text), "gpu_mali", where=where)


def feed_kgsl(b: Builder, lines, *, where: str = "") -> int:
    return feed_gpu_records(b, p_gpu.parse_kgsl(lines), "gpu_kgsl", where=where)


def feed_dumpsys_gpu(b: Builder, text: str, *, where: str = "") -> int:
    return feed_gpu_records(b, p_gpu.parse_dumpsys_gpu(text), "dumpsys_gpu", where=where)
