"""`droidtrack report` end to end on the real pipeline: a synthetic device root (the collector runs
on it), a recording made from it, and pasted text through `analyze`."""
from __future__ import annotations

import json
import zipfile

from droidtrack import cli
from droidtrack.collect import frames
from droidtrack.history.recording import RecordingWriter
from droidtrack.sources.localroot import LocalRootSource
from droidtrack.sim.synth import DeviceTree
from droidtrack.model.tags import load_rules
from report_helpers import BR_DATA, XSS

MiB = 1 << 20


def device(leaked: int = 0) -> DeviceTree:
    t = DeviceTree(generation="a13-5.15")
    t.add_process(612, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(4311, "id.GoogleCamera", cmdline=("com.google.android.GoogleCamera",), uid=10123)
    t.add_process(5100, XSS[:15], cmdline=(XSS,), uid=10200)
    fb = t.add_buffer(8294400, exporter="system", name="FramebufferSurface")
    t.hold_fd(612, fb)
    t.hold_map(612, fb, rss=0)
    cam = t.add_buffer(12 * MiB, exporter="system", name="CAMERA")
    t.hold_fd(4311, cam)
    evil = t.add_buffer(2 * MiB, exporter="system", name=XSS)
    t.hold_fd(5100, evil)
    t.add_buffer(4 * MiB, exporter="system", name="orphan")
    for _ in range(leaked):
        t.hold_fd(4311, t.add_buffer(2 * MiB, exporter="system", name="cam_preview"))
    return t


def read_zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_report_from_a_device_root(tmp_path, capsys):
    tree = device()
    root = tmp_path / "root"
    tree.write(root)
    out = tmp_path / "r.zip"
    assert cli.main(["report", "--root", str(root), "-o", str(out)]) == 0
    m = read_zip(out)
    doc = json.loads(m["snapshot.json"])
    truth = tree.truth()["totals"]
    assert doc["totals"]["bytes"] == truth["bytes"]
    assert doc["totals"]["kernel_only"] == truth["kernel_only_bytes"] == 4 * MiB
    # the raw collector stream is in the zip and decodes to the same sections
    fr = frames.decode(m["raw/collector.stream"])
    assert fr.complete and "fdinfo" in fr.sections
    page = m["report.html"].decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and XSS not in page
    prov = json.loads(m["provenance.json"])["provenance"]
    assert prov["kernel"] == tree.truth()["kernel"] and "fdinfo" in prov["sources read"]


def test_report_from_a_recording(tmp_path):
    rec = tmp_path / "cam.dtrec"
    w = RecordingWriter(str(rec))
    for i in range(4):
        root = tmp_path / f"root{i}"
        device(leaked=i).write(root)
        src = LocalRootSource(str(root), rules=load_rules())
        got = src.collect()
        src.close()
        w.add("raw", got.raw, time=1_700_000_000.0 + 60 * i, origin=got.snapshot.origin)
    out = tmp_path / "r.zip"
    assert cli.main(["report", "--replay", str(rec), "-o", str(out)]) == 0
    m = read_zip(out)
    assert m["raw/cam.dtrec"] == rec.read_bytes()
    page = m["report.html"].decode()
    assert 'id="over-time"' in page and 'id="suspect-table"' in page
    assert "4 snapshots" in page and "com.google.android.GoogleCamera" in page
    prov = json.loads(m["provenance.json"])
    assert prov["snapshots"] == 4 and prov["snapshot_times"][-1] == 1_700_000_180.0
    summary = m["summary.md"].decode()
    assert "**Leak suspects**" in summary and "persistent" in summary


def test_report_from_pasted_text(tmp_path):
    out = tmp_path / "r.zip"
    assert cli.main(["report", "--analyze", str(BR_DATA / "bufinfo.txt"), "-o", str(out)]) == 0
    m = read_zip(out)
    assert m["raw/bufinfo.txt"] == (BR_DATA / "bufinfo.txt").read_bytes()
    doc = json.loads(m["snapshot.json"])
    assert doc["totals"]["bytes"] == 89706496 and len(doc["buffers"]) == 12
    assert "built from pasted text" in m["summary.md"].decode()
