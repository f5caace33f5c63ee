"""droidtrack.sim.demo: the demo phone tells one story (the camera app leaks, nothing else moves;
the camera provider and SurfaceFlinger hold its leaked buffers too, and the app owns them) and has
the same serial from run to run."""
from __future__ import annotations

import json
import socket
import tempfile

import pytest

from droidtrack.history.compare import diff, leak_suspects
from droidtrack.sim import demo
from droidtrack.sim.demo import LEAK_MAX_STEPS, LEAK_PER_STEP, build_step
from droidtrack.sources.localroot import LocalRootSource


def _by_inode(step: int) -> dict[int, tuple]:
    t = build_step(step)
    return {b.inode: (b.size, b.name) for b in t.buffers}


def test_buffers_keep_their_inode_and_only_the_camera_leak_grows():
    for step in (0, 1, 2, 3, 5, LEAK_MAX_STEPS - 2, LEAK_MAX_STEPS + 1):
        now, nxt = _by_inode(step), _by_inode(step + 1)
        gone = set(now) - set(nxt)
        new = set(nxt) - set(now)
        for ino in set(now) & set(nxt):
            assert now[ino] == nxt[ino], f"inode {ino} changed buffer between steps {step} and {step + 1}"
        assert not gone
        assert len(new) == LEAK_PER_STEP and all(nxt[i][1] == "CAMERA" for i in new)
    # the app restarts: its leak goes, the next one takes new inodes
    last, restart = _by_inode(LEAK_MAX_STEPS - 1), _by_inode(LEAK_MAX_STEPS + 1)
    assert set(restart) - set(last) and not (set(restart) - set(last)) & set(last)


@pytest.fixture(scope="module")
def demo_snapshots(tmp_path_factory):
    snaps = []
    for step in range(4):
        root = tmp_path_factory.mktemp(f"step{step}")
        build_step(step).write(root)
        s = LocalRootSource(str(root)).collect().snapshot
        snaps.append(s)
    return snaps


def test_leak_suspects_blame_only_the_camera_app(demo_snapshots):
    sus = leak_suspects(demo_snapshots)
    assert sus, "the demo must show a leak"
    for s in sus:
        text = s.subject + " " + s.detail
        # the provider and SurfaceFlinger, which hold the leaked buffers too, grow with it: their
        # growth is charged to the app that owns those buffers (a tag's growth has no owner)
        assert s.owner == "com.example.camera" or (s.owner is None and s.subject == "tag camera"), \
            f"the demo blames something else than the camera app: {s}"
        assert "mali-import" not in text and "c2-output" not in text
    assert any(s.kind == "growth" and s.subject == "owner com.example.camera" for s in sus)
    assert {s.subject for s in sus if s.kind == "growth" and s.subject.startswith("process ")} == {
        "process com.example.camera (pid 4321)", "process /system/bin/surfaceflinger (pid 612)",
        "process /vendor/bin/hw/android.hardware.camera.provider@2.7-service (pid 701)"}
    assert any(s.kind == "persistent" for s in sus)
    assert not any(s.kind == "orphan" for s in sus)


def test_diff_between_steps_shows_only_new_camera_buffers(demo_snapshots):
    d = diff(demo_snapshots[1], demo_snapshots[2])
    assert not d.vanished
    assert len(d.appeared) == LEAK_PER_STEP
    assert {b.name for b in d.appeared} == {"CAMERA"}
    assert all("example.camera" in " ".join(b.holders) for b in d.appeared)


def test_the_demo_phone_has_a_stable_serial_and_says_how_it_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(demo, "_told", set())
    def first_free() -> int:
        for port in demo.SERIAL_PORTS:
            with socket.socket() as sk:
                try:
                    sk.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue                 # another demo phone (a parallel run) has it
        raise AssertionError("no free demo port")
    for _ in range(2):
        want = first_free()
        with demo.start_demo_device() as (port, serial):
            # not a random port: the first free demo port (the same serial every run); a parallel
            # demo may free a lower one in between
            host, _, p = serial.rpartition(":")
            assert host == "127.0.0.1" and int(p) in demo.SERIAL_PORTS and int(p) <= want
    err = capsys.readouterr().err
    assert err.count("demo phone:") == 1          # said once per process
    assert "mount namespace" in err or "directly on the host" in err


def test_a_failing_start_gives_no_sudo_hint_to_root(monkeypatch):
    from droidtrack.double import SandboxError

    def fail(*a, **k):
        raise SandboxError("no luck")
    monkeypatch.setattr(demo, "_start_double", fail)
    monkeypatch.setattr(demo.os, "geteuid", lambda: 0)
    with pytest.raises(demo.DemoError) as e:
        with demo.start_demo_device():
            pass
    assert "no luck" in str(e.value) and "sudo" not in str(e.value)
    monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    with pytest.raises(demo.DemoError) as e:
        with demo.start_demo_device():
            pass
    assert "sudo" in str(e.value)


def test_meminfo_matches_the_tree():
    for step in (0, 3):
        t = build_step(step)
        text = t.dumpsys["meminfo"]
        kb = int(text.split("DMA-BUF Heaps:")[1].split("K")[0].replace(",", ""))
        assert kb == sum(b.size for b in t.buffers) // 1024, json.dumps(text)


def test_the_camera_app_owns_its_leaked_buffers_though_the_provider_and_surfaceflinger_hold_them(demo_snapshots):
    from droidtrack.model.account import account, owner_groups
    from droidtrack.model.owners import APP
    grown = []
    for step, s in enumerate(demo_snapshots):
        leaked = {f"ino:{i}" for i in demo.leaked_inodes(step)} & set(s.buffers)
        assert len(leaked) == LEAK_PER_STEP * step
        for key in leaked:
            b, o = s.buffers[key], s.owners[key]
            assert demo.PID_CAMPROV in b.holders and demo.PID_CAMERA in b.holders
            assert (o.pid, o.package, o.rule) == (demo.PID_CAMERA, "com.example.camera", APP), o
            assert "shares it with" in o.evidence and "camera.provider" in o.evidence
        assert sum(1 for k in leaked if demo.PID_SF in s.buffers[k].holders) == LEAK_PER_STEP * step // 2
        a = account(s)
        g = owner_groups(s, a)
        grown.append(g["com.example.camera"].bytes)
        # nothing of the leak is charged to the services that hold it too
        assert a.processes[demo.PID_SF].charged == account(demo_snapshots[0]).processes[demo.PID_SF].charged
        assert a.processes[demo.PID_CAMPROV].charged == 0
    # the app is charged the whole of each leaked buffer, step after step
    assert [x - grown[0] for x in grown] == [LEAK_PER_STEP * step * demo.PREVIEW for step in range(len(grown))]
