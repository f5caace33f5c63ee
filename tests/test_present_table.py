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


def test_owners_section_charges_each_owner_with_the_rule_and_rows_for_the_gone_and_the_kernel():
    from droidtrack.model import Owner, Process
    from droidtrack.model.account import account
    from droidtrack.model.owners import infer
    from dtfactory import MiB as M, PROCS, buf, fd, mapped, snap as mk
    evil = Process(2000, "evil", ("com.evil\x1b[31m.app",), uid=10200, fds_readable=True, maps_readable=True)
    s = mk([buf(1, 4 * M, holders={500: mapped(3), 1234: fd(9)}),          # app holder: the camera app
            buf(2, 2 * M, holders={500: fd(4)}),                           # service: surfaceflinger
            buf(3, 3 * M, holders={700: fd(5)}),                           # was the gone app's
            buf(4, M, holders={2000: fd(6)}),                              # a hostile label
            buf(5, 5 * M)], procs={**PROCS, 2000: evil})                   # kernel-only
    prev = {"ino:3": Owner(4321, "com.gone.app", "com.gone.app", "app holder", "")}
    s = dataclasses.replace(s, owners=infer(s, previous=prev).owners)
    out = render(s, account(s))
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("owners ("))
    sec = lines[start + 2:lines.index("", start)]
    rows = {l[2:36].rstrip(): l[36:].split() for l in sec}
    assert rows["com.example.camera"] == ["4.0", "MiB", "1", "1234", "app", "holder"]
    assert rows["/system/bin/surfaceflinger"] == ["2.0", "MiB", "1", "500", "service"]
    assert rows["com.gone.app (gone)"] == ["3.0", "MiB", "1", "-", "last", "app", "holder"]
    assert rows["(owner exited: charged to none)"] == ["3.0", "MiB"]
    assert rows["kernel (no process holds them)"] == ["5.0", "MiB", "1", "-", "kernel-only"]
    assert "\x1b" not in out and "com.evil\\x1b[31m.app" in out
    assert [l[2:36].rstrip() for l in sec][:2] == ["com.example.camera", "com.gone.app (gone)"]   # largest first
