"""`droidtrack diff A B` on snapshot JSON files and points of a recording."""
from __future__ import annotations

import json

import dtfactory as f
from dtfactory import MiB
from droidtrack.cli import main
from droidtrack.model.schema import dumps
from droidtrack.history.recording import RecordingWriter
from droidtrack.sources import Collected


def test_diff_of_two_points_of_a_recording(tmp_path, capsys):
    with RecordingWriter(str(tmp_path / "r.dtr")) as w:
        for s in f.leaking_series(6):
            w.add_collected(Collected(s))
    r = str(tmp_path / "r.dtr")
    assert main(["diff", r + "@1", r + "@-1"]) == 0
    out = capsys.readouterr().out
    assert "(20 s later)" in out
    assert "buffers: 4 appeared (+8.0 MiB), 0 vanished" in out
    assert "com.example.camera (pid 1234)" in out
    assert "appeared (4, largest first):" in out and "'cam_preview'" in out
    assert main(["diff", r + "@0", r + "@5", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["delta"] == 10 * MiB and len(doc["appeared"]) == 5


def test_diff_of_two_json_snapshots_and_bad_inputs(tmp_path, capsys):
    a = f.snap(f.base_buffers())
    bufs = [b for b in f.base_buffers() if b.key != "ino:10"]
    (tmp_path / "a.json").write_text(dumps(a))
    (tmp_path / "b.json").write_text(dumps(f.snap(bufs, t=a.time + 60)))
    out_file = tmp_path / "d.txt"
    assert main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(out_file)]) == 0
    text = out_file.read_text()
    assert "total: 15.0 MiB -> 7.0 MiB (-8.0 MiB)" in text
    assert "0 appeared (0 B), 1 vanished (-8.0 MiB)" in text and "'framebuffer'" in text
    assert main(["diff", str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["diff", str(tmp_path / "a.json@2"), str(tmp_path / "b.json")]) == 2
