"""`dumpsys SurfaceFlinger` collected (issue 13): the collector's `dumpsys_surfaceflinger` section
(with --dumpsys, under real mksh+toybox), the device double serving it, a bug report's
`DUMP OF SERVICE SurfaceFlinger:`, all through the one feeder (ingest/surfaceflinger.py) into
the gralloc size join that names the owners."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from collector_support import MKSH_STATIC, base_dir, copy_tree, run_collector
from device.conftest import *  # noqa: F401,F403  (fixtures)
from device.conftest import small_phone
from droidtrack.collect import frames
from droidtrack.double import DeviceConfig
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.model.owners import NAMED, SERVICE
from droidtrack.sources import adb

REPO = Path(__file__).resolve().parents[1]
CAM = "com.example.camera"
PREVIEW = f"SurfaceView[{CAM}/{CAM}.Preview]#0(BLAST Consumer)0"
MiB = 1 << 20


def sf_dump(rows: list[tuple[str, int]]) -> str:
    """A `dumpsys SurfaceFlinger` excerpt: the allocator's table (a hostile requestor) and the
    imported list with `rows` (name, bytes)."""
    out = ["Display 0 (HWC display 0): port=0 pnpId=GGL displayName=\"Common Panel\"\n",
           "GraphicBufferAllocator buffers:\n",
           "        Handle |        Size |     W (Stride) x H | Layers |   Format |      Usage | Requestor\n",
           "0xb4000070f706d170 | 10200.00 KiB | 1080 (1088) x 2400 |      1 |        1 | 0x    1b00 | "
           "<b>x</b>\x1b[31m | FramebufferSurface\n",
           "Total allocated by GraphicBufferAllocator (estimate): 10200.00 KB\n",
           "Imported gralloc buffers:\n"]
    for i, (name, size) in enumerate(rows):
        out.append(f"+ name:{name}, id:{(4321 << 32) | i}, size:{size / 1024:.2f}KiB, w/h:1x1, usage: 0x20b00, "
                   "req fmt:1, fourcc/mod:875708993/0, dataspace: 0x0, compressed: false\n"
                   f"\tplanes: R/G/B/A:\t w/h:1x1, stride:4 bytes, size:{size}\n")
    out.append(f"Total imported by gralloc: {sum(s for _, s in rows) / 1024:.2f}KiB\n")
    return "".join(out)


# ---- the collector, under the shells a phone has ---------------------------------------------

@pytest.mark.parametrize("shell", ["mksh+toybox", "mksh-static+toybox"])
def test_the_collector_runs_dumpsys_surfaceflinger_only_with_dumpsys(shell):
    root = copy_tree(REPO / "fixtures" / "a13-5.15", "sf")
    shim = Path(tempfile.mkdtemp(dir=base_dir()))
    os.chmod(shim, 0o755)
    dump = shim / "sf.txt"
    dump.write_text(sf_dump([(PREVIEW, 2 * MiB)]))
    # a dumpsys that answers like the real one: per service, "Can't find service" otherwise
    (shim / "dumpsys").write_text(f"#!{MKSH_STATIC}\ncase $1 in\n  SurfaceFlinger) cat {dump} ;;\n"
                                  "  meminfo) echo 'Applications Memory Usage (in Kilobytes):' ;;\n"
                                  "  *) echo \"Can't find service: $1\" >&2 ;;\nesac\n")
    os.chmod(shim / "dumpsys", 0o755)
    with_ = run_collector(root, shell, args=("--dumpsys",), extra_path=shim, trace=True, writes=False)
    without = run_collector(root, shell, extra_path=shim, trace=True, writes=False)
    assert with_.rc == 0 and with_.fr.complete
    sec = with_.sec("dumpsys_surfaceflinger")
    assert sec.status == "ok" and sec.content.rstrip(b"\n") == dump.read_bytes().rstrip(b"\n")   # byte for byte
    assert "dumpsys_surfaceflinger" not in without.fr.sections
    # --dumpsys costs a constant number of processes, however many the device runs: three dumpsys
    # (meminfo, gpu, SurfaceFlinger), the shim's own cat of the dump, and the collector's cat of
    # the stderr the gpu dump wrote
    assert with_.procs - without.procs == 3 + 1 + 1, (with_.procs, without.procs)
    # and the host reads it: the row joins nothing here (no such buffer), its totals are reported
    snap = snapshot_from_frames(with_.fr)
    assert snap.sources["dumpsys_surfaceflinger"].status == "ok"
    assert snap.reported["surfaceflinger.gralloc_imported"] == 2 * MiB
    assert snap.reported["surfaceflinger.gralloc_allocated"] == 10200 * 1024


# ---- the device double serves it, the owners follow -------------------------------------------

def _phone_with_previews():
    """small_phone, plus two preview buffers only SurfaceFlinger and the allocator hold."""
    t = small_phone()
    for _ in range(2):
        b = t.add_buffer(2 * MiB, name=None)
        t.hold_fd(600, b)
        t.hold_fd(700, b)
    return t


def test_the_double_serves_dumpsys_surfaceflinger_and_its_names_decide_owners(make_double, tmp_path):
    t = _phone_with_previews()
    t.set_dumpsys("SurfaceFlinger", sf_dump([(PREVIEW, 2 * MiB), (PREVIEW.replace("#0", "#1"), 2 * MiB)]))
    root = tmp_path / "phone"
    t.write(root)
    p = make_double(root, DeviceConfig(rooted=True))
    owners = {}
    for dumpsys in (False, True):
        token = frames.new_token()
        r = adb.collect(p.target, token, dumpsys=dumpsys)
        fr = frames.decode(r.data, token)
        assert fr.complete
        snap = snapshot_from_frames(fr)
        owners[dumpsys] = {k: snap.owners[k] for k, b in snap.buffers.items()
                           if b.size == 2 * MiB and set(b.holders) == {600, 700}}
        if dumpsys:
            assert "SurfaceView" in fr.sections["dumpsys_surfaceflinger"].text()
            assert snap.sources["dumpsys_surfaceflinger"].status == "ok"
    assert len(owners[False]) == 2
    assert {(o.rule, o.pid) for o in owners[False].values()} == {(SERVICE, 600)}          # surfaceflinger's
    assert {(o.rule, o.pid, o.package) for o in owners[True].values()} == {(NAMED, 4321, CAM)}  # the app's
    assert all("SurfaceFlinger gralloc name" in o.evidence for o in owners[True].values())


# ---- a bug report's DUMP OF SERVICE SurfaceFlinger ------------------------------------------------

def test_a_bugreports_surfaceflinger_dump_names_the_owners(tmp_path):
    import zipfile
    from report_helpers import BR_MAIN, bugreport_text, make_bugreport_zip
    from droidtrack.sources.bugreport import BugreportSource
    app = "com.google.android.GoogleCamera"
    # surfaceflinger (612) holds three 8100 kB FramebufferSurface buffers: three rows of that size
    # naming the camera app join; a 1024 kB row with another name does not (two candidates)
    dump = sf_dump([(f"SurfaceView[{app}/{app}.Main]#0(BLAST Consumer)0", 8100 * 1024)] * 3
                   + [("StatusBar#0", 1024 * 1024), ("NavigationBar#0", 1024 * 1024)])
    path = make_bugreport_zip(tmp_path / "b.zip")
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[BR_MAIN] = bugreport_text(surfaceflinger=dump).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    snap = BugreportSource(str(path)).collect().snapshot
    assert snap.sources["dumpsys_surfaceflinger"].status == "ok"
    named = {k for k, o in snap.owners.items() if o.rule == NAMED}
    assert named == {"ino:1201", "ino:1202", "ino:1203"}
    assert {snap.owners[k].package for k in named} == {app}
    assert snap.owners["ino:1500"].rule != NAMED
    assert any("1048576 bytes" in p.message and "not joined" in p.message for p in snap.problems)
    # without the section: missing, and the same buffers are surfaceflinger's or the allocator's
    plain = BugreportSource(str(make_bugreport_zip(tmp_path / "c.zip"))).collect().snapshot
    assert plain.sources["dumpsys_surfaceflinger"].status == "missing"
    assert not any(o.rule == NAMED for o in plain.owners.values())


@pytest.mark.parametrize("text", ["", "garbage\x00\n" * 50, sf_dump([(PREVIEW, 2 * MiB)])[:200],
                                  "Imported gralloc buffers:\n+ name:" + "x" * 100_000 + "\n"])
def test_the_feeder_takes_any_text(text):
    from droidtrack.ingest.surfaceflinger import feed_surfaceflinger
    from droidtrack.model.build import Builder
    b = Builder()
    feed_surfaceflinger(b, text)
    assert b.sources["dumpsys_surfaceflinger"].status in ("ok", "partial")
    b.finish(time=0.0)


# ---- pasted: `droidtrack analyze` ---------------------------------------------------------------

def test_analyze_reads_a_pasted_surfaceflinger_dump_with_the_rest(tmp_path, capsys):
    import json
    from droidtrack.cli import main
    from report_helpers import BR_DATA
    app = "com.google.android.GoogleCamera"
    sf = tmp_path / "sf.txt"
    sf.write_text("$ adb shell dumpsys SurfaceFlinger\n"
                  + sf_dump([(f"SurfaceView[{app}/{app}.Main]#0(BLAST Consumer)0", 8100 * 1024)] * 3))
    files = [str(BR_DATA / "dmabuf_dump.txt"), str(BR_DATA / "meminfo.txt"), str(sf)]
    capsys.readouterr()
    assert main(["analyze", *files, "--format", "json"]) == 0
    cap = capsys.readouterr()
    assert "sf.txt: read as dumpsys_surfaceflinger" in cap.err
    doc = json.loads(cap.out)
    named = {b["key"]: b["owner"] for b in doc["buffers"] if b["owner"]["rule"] == NAMED}
    assert set(named) == {"ino:1201", "ino:1202", "ino:1203"}
    assert {o["package"] for o in named.values()} == {app}
