"""The snapshot text table (`droidtrack snapshot`): the kernel-only list (issue 17)."""
from __future__ import annotations

import dataclasses

from droidtrack.model import Buffer
from droidtrack.present.table import render
from report_helpers import MiB, snapshot


def test_kernel_only_list_is_largest_first_by_inode_without_trailing_spaces():
    snap = snapshot(nasty=False)
    extra = {f"ino:{i}": Buffer(key=f"ino:{i}", size=MiB, inode=i, exporter="system", name="scratch",
                                holders={}, tag="other", sources=("test",)) for i in (26, 9, 100, 25)}
    out = render(dataclasses.replace(snap, buffers={**snap.buffers, **extra}))
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines), [l for l in lines if l != l.rstrip()]
    start = next(i for i, l in enumerate(lines) if l.startswith("kernel-only buffers"))
    keys = [l.split()[0] for l in lines[start + 1:start + 6]]
    assert keys == ["ino:4", "ino:9", "ino:25", "ino:26", "ino:100"], lines[start:start + 6]
