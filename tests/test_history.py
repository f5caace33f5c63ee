"""Diffs and leak suspects over snapshots built from the model (droidtrack/history.py)."""
from __future__ import annotations

import pytest

import dtfactory as f
from dtfactory import MiB
from droidtrack.history.compare import LoadError, diff, diff_to_dict, leak_suspects, load_snapshot, split_spec
from droidtrack.model import Buffer, Process
from droidtrack.model.schema import dumps
from droidtrack.history.recording import RecordingWriter
from droidtrack.sources import Collected


def test_diff_names_what_appeared_vanished_and_grew():
    a = f.snap(f.base_buffers())
    bufs = [b for b in f.base_buffers() if b.key != "ino:12"]          # the codec buffer was freed
    bufs.append(f.buf(200, 6 * MiB, "camera", "system", "cam_preview", {1234: f.fd(60)}))
    b = f.snap(bufs, t=a.time + 30)
    d = diff(a, b)
    assert [r.key for r in d.appeared] == ["ino:200"]
    assert d.appeared[0].holders == ("com.example.camera (1234)",)
    assert [r.key for r in d.vanished] == ["ino:12"]
    assert d.total.delta == 4 * MiB and d.seconds == 30
    tags = {c.key: c.delta for c in d.by_tag}
    assert tags == {"camera": 6 * MiB, "multimedia": -2 * MiB, "display": 0, "gl": 0, "other": 0}
    procs = {c.key: c.delta for c in d.by_process}
    assert procs["com.example.camera (pid 1234)"] == 6 * MiB
    assert procs["media.codec (pid 600)"] == -2 * MiB
    assert d.by_tag[0].key == "camera"          # largest change first
    doc = diff_to_dict(d)
    assert doc["schema"] == "droidtrack.diff/1" and doc["total"]["delta"] == 4 * MiB


def test_a_reused_pid_is_a_different_process():
    a = f.snap(f.base_buffers())
    procs = dict(f.PROCS)
    procs[600] = Process(600, "other.app", ("com.other.app",), fds_readable=True)
    b = f.snap(f.base_buffers(), procs=procs)
    keys = {c.key: (c.before, c.after) for c in diff(a, b).by_process}
    assert keys["media.codec (pid 600)"] == (2 * MiB, 0)
    assert keys["com.other.app (pid 600)"] == (0, 2 * MiB)


def test_buffers_without_inode_are_matched_by_signature():
    def nb(key, size):
        return Buffer(key=key, size=size, exporter="ion", name="x")
    a = f.snap([nb("bufinfo:1", MiB), nb("bufinfo:2", MiB)])
    b = f.snap([nb("bufinfo:7", MiB), nb("bufinfo:8", MiB), nb("bufinfo:9", MiB)])
    d = diff(a, b)
    assert len(d.appeared) == 1 and d.vanished == []


def test_leaking_series_gives_all_three_kinds_of_suspect():
    found = leak_suspects(f.leaking_series(6))
    kinds = {s.kind: s for s in found}
    assert set(kinds) == {"persistent", "growth", "orphan"}
    p = kinds["persistent"]
    assert p.bytes == 5 * 2 * MiB and p.confidence == 1.0 and len(p.buffers) == 5
    assert "com.example.camera" in p.subject
    g = [s for s in found if s.kind == "growth"]
    # the app let go of cam_meta at sample 2 (its RSS dipped), so only the tag only grew
    assert {s.subject for s in g} == {"tag camera"}
    cam = next(s for s in g if s.subject == "tag camera")
    assert cam.slope == pytest.approx(2 * MiB / 5)       # bytes per second: 2 MiB every 5 s
    o = kinds["orphan"]
    assert o.buffers == ("ino:90",) and o.last_holder == "com.example.camera (1234)"
    assert o.confidence == 1.0 and o.first_sample == 2


def test_a_steady_device_has_no_suspects():
    series = [f.snap(f.base_buffers(), t=1000.0 + i) for i in range(5)]
    assert leak_suspects(series) == []
    assert leak_suspects(series[:1]) == []


def test_a_pool_allocated_once_scores_low_and_a_dip_is_not_growth():
    series = []
    for i in range(6):
        bufs = f.base_buffers()
        if i >= 1:   # one pool of 4 buffers allocated at sample 1, kept
            bufs += [f.buf(300 + j, MiB, "gl", "system", "pool", {500: f.fd(70 + j)}) for j in range(4)]
        if i in (1, 2, 4, 5):    # a transient buffer that comes and goes
            bufs.append(f.buf(400 + i, 3 * MiB, "camera", "system", "t", {1234: f.fd(90)}))
        series.append(f.snap(bufs, t=2000.0 + i))
    found = leak_suspects(series)
    pers = [s for s in found if s.kind == "persistent"]
    assert len(pers) == 2    # the pool, and the buffer of sample 5 (appeared in the last interval)
    pool = next(s for s in pers if "gl" in s.subject)
    assert pool.confidence == pytest.approx(1 / 5) and pool.bytes == 4 * MiB
    assert not [s for s in found if s.kind == "growth" and "camera" in s.subject]


def test_orphan_seen_only_in_the_last_sample_has_half_confidence():
    a = f.snap(f.base_buffers())
    bufs = [b for b in f.base_buffers() if b.key != "ino:12"] + [f.buf(12, 2 * MiB, "multimedia")]
    found = leak_suspects([a, f.snap(bufs, t=a.time + 1)])
    assert [(s.kind, s.confidence, s.last_holder) for s in found] == [("orphan", 0.5, "media.codec (600)")]


def test_load_snapshot_specs(tmp_path):
    snaps = f.leaking_series(3)
    with RecordingWriter(str(tmp_path / "r.dtr")) as w:
        for s in snaps:
            w.add_collected(Collected(s))
    (tmp_path / "s.json").write_text(dumps(snaps[1], all_processes=True))
    assert load_snapshot(str(tmp_path / "r.dtr@0")).time == snaps[0].time
    assert load_snapshot(str(tmp_path / "r.dtr@-2")).time == snaps[1].time
    assert load_snapshot(str(tmp_path / "r.dtr")).time == snaps[2].time
    assert load_snapshot(str(tmp_path / "s.json")).buffers.keys() == snaps[1].buffers.keys()
    with pytest.raises(LoadError, match="is not one"):
        load_snapshot(str(tmp_path / "s.json@1"))
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(LoadError, match="not a capture"):
        load_snapshot(str(tmp_path / "junk"))
    assert split_spec("a@b@3") == ("a@b", 3)
    assert split_spec("weird@name") == ("weird@name", None)


def _services_keep_the_apps_buffers(n=5):
    """Each sample the camera provider (700) allocates one more preview buffer for the camera app
    (1234) and keeps it with the app: whose the growth is, is the app's."""
    out = []
    for i in range(n):
        bufs = f.base_buffers() + [f.buf(200 + j, 2 * MiB, "camera", "system", "preview",
                                         {700: f.fd(30 + j), 1234: f.fd(60 + j)}) for j in range(i)]
        out.append(f.snap(bufs, t=3000.0 + 10 * i))
    return out


def test_leak_suspects_name_the_owner_they_are_charged_to():
    found = leak_suspects(_services_keep_the_apps_buffers())
    by = {(s.kind, s.subject): s for s in found}
    pers = by[("persistent", "camera buffers from system held by /vendor/bin/hw/android.hardware.camera"
                             ".provider@2.7-service, com.example.camera, charged to com.example.camera")]
    assert pers.owner == "com.example.camera" and pers.bytes == 4 * 2 * MiB
    prov = next(s for s in found if s.kind == "growth" and "camera.provider" in s.subject)
    assert prov.owner == "com.example.camera"        # the provider grows, the app is charged
    own = by[("growth", "owner com.example.camera")]
    assert own.owner == "com.example.camera" and own.bytes == 4 * 2 * MiB and own.confidence == 1.0
    assert by[("growth", "tag camera")].owner is None
    from droidtrack.history.compare import suspect_to_dict
    assert suspect_to_dict(pers)["owner"] == "com.example.camera"


def test_orphan_names_the_owner_it_had_while_held():
    o = next(s for s in leak_suspects(f.leaking_series(4)) if s.kind == "orphan")
    assert o.owner == "com.example.camera" and "charged to com.example.camera (app holder)" in o.detail


def test_a_persistent_group_is_split_by_owner():
    # the same holders, tag and exporter, but the buffers' names say they are two apps'
    procs = {**f.PROCS, 2345: Process(2345, "com.other.app", ("com.other.app",), uid=10200)}
    series = []
    for i in range(3):
        extra = [f.buf(300 + j, MiB, "gl", "system", ("com.example.camera/A" if j % 2 else "com.other.app/B"),
                       {500: f.fd(80 + j)}) for j in range(2 * i)]
        series.append(f.snap(f.base_buffers() + extra, t=4000.0 + i, procs=procs))
    pers = sorted((s.owner, s.bytes) for s in leak_suspects(series) if s.kind == "persistent")
    assert pers == [("com.example.camera", 2 * MiB), ("com.other.app", 2 * MiB)]


def test_diff_says_which_owner_grew():
    from droidtrack.commands.diff import render
    s = _services_keep_the_apps_buffers(3)
    d = diff(s[0], s[-1])
    assert [(c.key, c.delta) for c in d.by_owner if c.delta] == [("com.example.camera", 4 * MiB)]
    assert {r.owner for r in d.appeared} == {"com.example.camera"}
    out = render(d)
    sec = out.split("by owner (charged bytes")[1].splitlines()
    from droidtrack.model.units import human_size
    assert sec[1].split()[0] == "com.example.camera" and human_size(4 * MiB, signed=True) in sec[1]
    assert "owner com.example.camera" in out.split("\nappeared (")[1]
    from droidtrack.history.compare import diff_to_dict
    j = diff_to_dict(d)
    assert j["by_owner"][0] == {"key": "com.example.camera", "before": 4 * MiB, "after": 8 * MiB, "delta": 4 * MiB}
    assert {r["owner"] for r in j["appeared"]} == {"com.example.camera"}
