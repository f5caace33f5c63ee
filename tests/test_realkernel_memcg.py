"""dma_heap.mem_accounting=1 on a real 7.x kernel (qemu): the scenario and the collectors run in a
top-level memory cgroup; the system heap's pages are charged to its `kernel` figure, so the
memcg figure droidtrack reports bounds the system-heap buffers the kernel has from above. Left in
the root cgroup they are charged to no cgroup: the figure is 0, said beside the buffers, no problem."""
from __future__ import annotations

import json

import pytest

from realkernel.boot import SHELLS
from droidtrack.ingest.stream import snapshot_from_stream
from droidtrack.model.account import account, system_heap_bytes


@pytest.mark.realkernel
@pytest.mark.parametrize("shell", SHELLS)
def test_realkernel_7x_memcg_kernel_bounds_the_system_heap(booted7_memcg, shell):
    _, res = booted7_memcg
    assert "mem_accounting Y" in res.log, res.log
    expected = json.loads(res.files["expected.json"])
    snap = snapshot_from_stream(res.files[f"capture.{shell}"], token=res.files["token"].decode())
    assert "mem_accounting=Y" in snap.sources["memcg"].detail, snap.sources["memcg"]
    key = "memcg.kernel" if "root memory.stat present" in res.log else "memcg.kernel_top"
    bound = snap.reported[key]
    sysb = system_heap_bytes(snap)
    want = sum(b["size"] for b in expected["buffers"] if b.get("exporter") == "system")
    assert sysb == want > 0
    assert sysb <= bound, (sysb, bound)
    assert not [p for p in snap.problems if p.source == "memcg"]
    line = next(r for r in account(snap).reconciliation if r.label == key)
    assert "upper bound" in line.note and "more than the bound" not in line.note
    print(f"{key} = {bound} bytes, system-heap buffers {sysb} bytes")


@pytest.mark.realkernel
def test_realkernel_7x_memcg_root_cgroup_charges_nobody(booted7_memcg_root):
    _, res = booted7_memcg_root
    assert "mem_accounting Y" in res.log and "root memory.stat present" in res.log, res.log
    snap = snapshot_from_stream(res.files["capture.mksh"], token=res.files["token"].decode())
    sysb = system_heap_bytes(snap)
    assert snap.reported["memcg.kernel"] == 0 < sysb
    line = next(r for r in account(snap).reconciliation if r.label == "memcg.kernel")
    assert "charged to no cgroup" in line.note
    assert not [p for p in snap.problems if p.source == "memcg"]
