"""The booted VMs the realkernel tests share (a pytest plugin: tests/conftest.py loads it), so
that each kernel boots once per session for every module that asks: `booted` (6.12, the main
and the ownership scenarios, and trace.sh, which must say the kernel has no dma_buf events) and
`booted7` (7.x: our BPF iterator pinned, no debugfs, and trace.sh with the lifetime workload).
Each skips where qemu cannot run."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from realkernel import vm

SHELLS = ("busybox", "mksh")


def _qemu_runs() -> str | None:
    q = shutil.which("qemu-system-x86_64")
    if not q:
        return "qemu-system-x86_64 is not installed (tests/realkernel/fetch_kernel.sh installs it)"
    r = subprocess.run([q, "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"qemu-system-x86_64 cannot run here: {r.stderr.strip()[:200]}"
    return None


def _boot(tmp_path_factory, name: str, **kw):
    """Boot the VM once (vm.boot's keywords), or skip where qemu cannot run."""
    why = _qemu_runs()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp(name)
    res = vm.boot(shells=",".join(SHELLS), vgem=True, workdir=work, **kw)
    assert res.done, f"the VM did not finish; its log:\n{res.log}\nconsole:\n{res.console[-3000:]}"
    assert res.problems == [] and "FAIL" not in res.log, res.log
    for shell in SHELLS:
        (work / f"capture.{shell}").write_bytes(res.files[f"capture.{shell}"])
    return work, res


@pytest.fixture(scope="session")
def booted(tmp_path_factory):
    # the ownership scenario and the trace collector ride along
    return _boot(tmp_path_factory, "realkernel", owners=True, trace=True)


@pytest.fixture(scope="session")
def booted7(tmp_path_factory):
    return _boot(tmp_path_factory, "realkernel-7", kernel="7", bpf=True, debugfs=False, trace=True)


@pytest.fixture(scope="session")
def booted7_memcg(tmp_path_factory):
    # 7.x with dma_heap.mem_accounting=1 and the scenario in a memory cgroup (about 20 s more)
    return _boot(tmp_path_factory, "realkernel-7-memcg", kernel="7", bpf=True, debugfs=False, memcg=1)


@pytest.fixture(scope="session")
def booted7_memcg_root(tmp_path_factory):
    # the same with every process left in the root cgroup
    return _boot(tmp_path_factory, "realkernel-7-memcg-root", kernel="7", bpf=True, debugfs=False, memcg=2)
