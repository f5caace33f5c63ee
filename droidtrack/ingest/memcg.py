"""Feed the collector's `memcg` section (parse/memcg.py): where `dma_heap.mem_accounting` is on
(Linux 7.0+), the kernel memory of the memory cgroups, which holds the system heap's pages.

The figure goes to the reported totals: `memcg.kernel` (the root cgroup's memory.stat, which
covers every cgroup) or, on kernels without a root memory.stat, `memcg.kernel_top` (Σ over the
top-level cgroups: what processes in the root cgroup itself allocated is not in it). Either is an
upper bound of the system heap's bytes, never their measure: other kernel memory is in it too.
model/account.py puts the system-heap buffers beside it (reconciliation). More system-heap bytes
than the figure is no contradiction: what processes in the root cgroup allocate is charged to
no cgroup.
Where the parameter reads N the source says so and nothing is reported.
"""
from __future__ import annotations

from droidtrack.collect import frames as _frames
from droidtrack.model import SourceStatus
from droidtrack.model.account import memcg_kernel_total
from droidtrack.model.build import Builder
from droidtrack.parse import memcg as p_memcg

SOURCE = "memcg"


def feed(b: Builder, fr: _frames.Frames) -> None:
    sec = fr.sections.get(SOURCE)
    if sec is None:
        return           # no dma_heap.mem_accounting parameter (kernels before 7.0), or an older collector
    res = p_memcg.parse(sec.text(), fr.root)
    b.problems.extend(res.problems)
    acct = [r.value for r in res.records if r.kind == "accounting"]
    figures = {r.cgroup: r.value for r in res.records if r.kind == "kernel"}
    status = sec.status if not (sec.status == "ok" and res.problems) else "partial"
    if not acct:
        b.sources[SOURCE] = SourceStatus(status if status != "ok" else "partial",
                                         "dma_heap.mem_accounting could not be read")
        return
    if not acct[0]:
        b.sources[SOURCE] = SourceStatus(status, "dma_heap.mem_accounting=N: dma-heap charges no memory cgroup")
        return
    key, total, n = memcg_kernel_total(figures)
    if key is None:
        b.sources[SOURCE] = SourceStatus(status if status != "ok" else "partial",
                                         "dma_heap.mem_accounting=Y, but no cgroup's memory.stat was read")
        return
    b.reported[key] = total
    where = "the root cgroup" if key == "memcg.kernel" else f"{n} top-level cgroups"
    b.sources[SOURCE] = SourceStatus(status, f"dma_heap.mem_accounting=Y; kernel memory of {where}")
