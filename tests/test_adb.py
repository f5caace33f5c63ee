"""droidtrack.sources.adb against real adb servers (36 and 29) and the device double: device
selection, the collector pushed for real and run in ONE shell per snapshot, privilege, faults."""
from __future__ import annotations

import argparse
import time

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from device.conftest import small_phone
from droidtrack.collect import frames
from droidtrack.collect.collector import script_path
from droidtrack.double import DeviceConfig, Fault
from droidtrack.sources import adb

pytestmark = pytest.mark.adb


def collect(target, **kw):
    token = frames.new_token()
    return token, adb.collect(target, token, **kw)


@pytest.fixture(autouse=True)
def _fresh_sessions():
    yield
    adb.close_sessions()


# ---- arguments and parsing (no adb needed) ------------------------------------------------------
def _args(argv):
    p = argparse.ArgumentParser()
    adb.add_device_arguments(p)
    return p.parse_args(argv)


def test_target_from_args_follows_adb_precedence(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_PORT", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_ADDRESS", raising=False)
    t = adb.target_from_args(_args([]))
    assert (t.serial, t.host, t.port, t.su) == (None, "127.0.0.1", 5037, "auto")
    monkeypatch.setenv("ANDROID_SERIAL", "emulator-5554")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5038")
    monkeypatch.setenv("ANDROID_ADB_SERVER_ADDRESS", "10.0.0.2")
    t = adb.target_from_args(_args([]))
    assert (t.serial, t.host, t.port) == ("emulator-5554", "10.0.0.2", 5038)
    t = adb.target_from_args(_args(["-s", "R5CT", "-H", "buildhost", "-P", "6000", "--su", "never"]))
    assert (t.serial, t.host, t.port, t.su) == ("R5CT", "buildhost", 6000, "never")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "nope")
    with pytest.raises(adb.AdbError, match="ANDROID_ADB_SERVER_PORT"):
        adb.target_from_args(_args([]))


def test_parse_devices_l_keeps_every_state():
    text = ("R5CT10ABCDE            device usb:1-1 product:a52qnsxx model:SM_A525F device:a52q transport_id:3\n"
            "0123456789ABCDEF       unauthorized usb:1-2 transport_id:4\n"
            "emulator-5554          offline transport_id:5\n"
            "FA6AB0301234           no permissions (missing udev rules? user is in the plugdev group); "
            "see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:6\n")
    devs = adb.parse_devices_l(text)
    assert [(d.serial, d.state) for d in devs] == [
        ("R5CT10ABCDE", "device"), ("0123456789ABCDEF", "unauthorized"), ("emulator-5554", "offline"),
        ("FA6AB0301234", "no permissions (missing udev rules? user is in the plugdev group); "
                         "see [http://developer.android.com/tools/device.html]")]
    assert devs[0].props["model"] == "SM_A525F" and devs[0].props["transport_id"] == "3"
    assert "Allow USB debugging" in devs[1].hint
    assert "udev" in devs[3].hint


def test_collector_command_checks_the_hash_and_the_token_is_checked():
    c = adb._Collector(b"echo hi\n", "ab" * 32, 1700000000)
    cmd = adb.collector_command("T0K", c, "su0", dumpsys=True)
    assert "ab" * 32 in cmd and "8:1700000000" in cmd
    assert "exec su 0 sh /data/local/tmp/droidtrack/collect.sh --token T0K --tmp /data/local/tmp/droidtrack --dumpsys" in cmd
    with pytest.raises(adb.AdbError):
        adb.collect(adb.AdbTarget("x", "127.0.0.2", 1, start_server=False), "bad token")


def test_no_server_is_a_clear_error():
    # 127.0.0.2 is not "local" for the autostart, so nothing is started
    with pytest.raises(adb.AdbError, match="no adb server at 127.0.0.2"):
        adb.list_devices("127.0.0.2", 1)


# ---- through adb ---------------------------------------------------------------------------------
def test_list_devices_shows_unauthorized_and_offline_with_hints(make_double, tmp_path):
    roots = []
    for i in range(3):
        small_phone().write(tmp_path / f"p{i}")
        roots.append(tmp_path / f"p{i}")
    ok = make_double(roots[0])
    un = make_double(roots[1], DeviceConfig(state="unauthorized"))
    off = make_double(roots[2])
    off.double.set_state("offline")
    ok.server.wait_state(off.serial, "offline", timeout=15)
    devs = {d.serial: d for d in adb.list_devices("127.0.0.1", ok.server.port)}
    assert devs[ok.serial].state == "device" and devs[ok.serial].props["model"] == "Synth_a13_5_15"
    assert devs[un.serial].state == "unauthorized"
    assert devs[off.serial].state == "offline"
    # several devices and no serial: a clear error that lists them
    with pytest.raises(adb.AdbError) as e:
        adb.collect(adb.AdbTarget(None, "127.0.0.1", ok.server.port, start_server=False), "tok")
    assert e.value.exit_code == 2
    for serial in (ok.serial, un.serial, off.serial):
        assert serial in str(e.value)
    with pytest.raises(adb.AdbError, match="unauthorized.*Allow USB debugging"):
        adb.collect(un.target, "tok")
    with pytest.raises(adb.AdbError, match="offline"):
        adb.collect(off.target, "tok")


def test_collect_pushes_once_then_one_shell_per_snapshot(phone):
    target = adb.AdbTarget(None, "127.0.0.1", phone.server.port, su="never", start_server=False)
    token, r = collect(target)              # the only device: no serial needed
    assert r.serial == phone.serial and r.pushed and r.error is None and r.exit_code == 0
    assert r.privilege == "shell"
    fr = frames.decode(r.data, token)
    assert fr.complete and not fr.problems
    assert b"Permission denied" in fr.sections["fdlinks"].stderr     # shell cannot read other apps' fds
    pushed = phone.double.device_path("/data/local/tmp/droidtrack/collect.sh")
    assert pushed.read_bytes() == script_path().read_bytes()
    for _ in range(3):
        before = len(phone.double.services)
        token, r = collect(target)
        assert not r.pushed and frames.decode(r.data, token).complete
        opened = phone.double.services[before:]
        assert len(opened) == 1 and opened[0].startswith("shell,v2,")   # ONE adb shell, nothing else
    # nothing but the collector is left on the device
    tmp = phone.double.device_path("/data/local/tmp")
    assert sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*")) == ["droidtrack", "droidtrack/collect.sh"]


def test_a_changed_collector_on_the_device_is_pushed_again(phone):
    target = phone.target
    collect(target)
    pushed = phone.double.device_path("/data/local/tmp/droidtrack/collect.sh")
    pushed.write_bytes(b"echo stale collector\n")
    token, r = collect(target)
    assert r.pushed and frames.decode(r.data, token).complete
    assert pushed.read_bytes() == script_path().read_bytes()


def test_without_sha256sum_size_and_mtime_decide(phone):
    sb = phone.double.sandbox
    (sb.root / "system/bin/sha256sum").unlink()
    tb = sb.root / "system/bin/toybox"
    tb.unlink()
    tb.write_text('#!/system/bin/sh\n[ "$1" = sha256sum ] && { echo "toybox: Unknown command sha256sum" >&2; exit 1; }\n'
                  'exec /usr/bin/toybox "$@"\n')
    tb.chmod(0o755)
    target = phone.target
    assert collect(target)[1].pushed
    assert not collect(target)[1].pushed                 # same size and mtime: not pushed again
    phone.double.device_path("/data/local/tmp/droidtrack/collect.sh").write_bytes(b"x\n")
    assert collect(target)[1].pushed


def test_su_auto_uses_adb_root_and_unroots_at_the_end(make_double, device_root):
    p = make_double(device_root, DeviceConfig(adb_root=True))
    token, r = collect(p.target)
    assert r.privilege == "root"
    fr = frames.decode(r.data, token)
    assert fr.complete and b"/proc/4321/fd:" in fr.sections["fdlinks"].content
    assert b"Uid:\t0\t0" in fr.sections["status"].content          # proc/self of a root reader
    assert p.double.config.rooted
    # the pushed directory stays usable by the shell user
    assert p.double.device_path("/data/local/tmp/droidtrack").stat().st_uid == 2000
    adb.close_sessions()
    assert not p.double.config.rooted                    # droidtrack rooted it, droidtrack unrooted it
    assert p.server.run("-s", p.serial, "wait-for-device", "shell", "id -u").stdout == b"2000\n"
    token, r = collect(adb.AdbTarget(p.serial, "127.0.0.1", p.server.port, su="never", start_server=False))
    assert r.privilege == "shell" and frames.decode(r.data, token).complete


def test_already_root_adbd_is_left_rooted(make_double, device_root):
    p = make_double(device_root, DeviceConfig(rooted=True))
    assert collect(p.target)[1].privilege == "root"
    adb.close_sessions()
    assert p.double.config.rooted


@pytest.mark.parametrize("style", ["aosp", "magisk"])
def test_su_auto_falls_back_to_su_on_user_builds(make_double, device_root, style):
    p = make_double(device_root, DeviceConfig(adb_root=False, su=style))
    token, r = collect(p.target)
    assert r.privilege == "su"
    fr = frames.decode(r.data, token)
    assert fr.complete and not fr.sections["fdlinks"].stderr
    assert not any(s.startswith("root:") for s in p.double.services)


def test_su_auto_without_root_runs_as_shell_and_says_so(make_double, device_root):
    p = make_double(device_root, DeviceConfig(adb_root=False, su="deny"))
    token, r = collect(p.target)
    assert r.privilege == "shell" and frames.decode(r.data, token).complete
    note = adb.session_note(p.target)
    assert "reduced" in note and "su" in note and r.note == note


def test_su_require_without_root_fails_clearly(make_double, device_root):
    p = make_double(device_root, DeviceConfig(adb_root=False))
    t = adb.AdbTarget(p.serial, "127.0.0.1", p.server.port, su="require", start_server=False)
    with pytest.raises(adb.AdbError, match="--su require.*no su") as e:
        collect(t)
    assert e.value.exit_code == 2


def test_device_dropping_mid_stream_keeps_the_bytes_and_says_so(phone):
    collect(phone.target)                                  # installed
    phone.double.add_fault(Fault("drop", after_bytes=2000, match="collect.sh", offline=True))
    t0 = time.monotonic()
    token, r = collect(phone.target, timeout=20)
    assert time.monotonic() - t0 < 10
    assert r.error and "went away" in r.error and phone.serial in r.error
    assert 0 < len(r.data) <= 2000
    fr = frames.decode(r.data, token)
    assert not fr.complete and fr.sections                # a partial snapshot, not nothing
    assert any("DONE" in p.message for p in fr.problems)


def test_stalled_device_times_out_with_a_clear_error(phone):
    collect(phone.target)
    phone.double.add_fault(Fault("stall", after_bytes=1500, match="collect.sh"))
    t0 = time.monotonic()
    token, r = collect(phone.target, timeout=1.0)
    assert time.monotonic() - t0 < 5
    assert r.error and ("within 1 s" in r.error)
    assert 0 < len(r.data) <= 1500


def test_slow_link_still_completes(make_double, device_root):
    p = make_double(device_root, DeviceConfig(bandwidth=2_000_000, latency=0.001))
    token, r = collect(p.target)
    assert r.error is None and frames.decode(r.data, token).complete


def test_clean_removes_everything_droidtrack_left(phone):
    collect(phone.target)
    assert phone.double.device_path("/data/local/tmp/droidtrack").exists()
    serial, removed = adb.clean(phone.target)
    assert serial == phone.serial and removed
    assert list(phone.double.device_path("/data/local/tmp").iterdir()) == []
    assert adb.clean(phone.target) == (phone.serial, False)
    # and the next snapshot installs the collector again
    assert collect(phone.target)[1].pushed


def test_dumpsys_and_dmabuf_dump_come_from_the_fixture(make_double, device_root):
    p = make_double(device_root, DeviceConfig(rooted=True))
    p.double.set_dumpsys("gpu --gpumem", "Memory snapshot for GPU 0:\nGlobal total: 4096\n")
    p.double.set_dmabuf_dump("dmabuf total: 19353600 bytes\n")
    token, r = collect(p.target, dumpsys=True, dmabuf_dump=True)
    fr = frames.decode(r.data, token)
    assert fr.complete
    assert fr.sections["dumpsys_meminfo"].text().startswith("Applications Memory Usage")   # synth's dumpsys/
    assert "Global total: 4096" in fr.sections["dumpsys_gpu"].text()
    assert "19353600" in fr.sections["dmabuf_dump"].text()


def test_a_5_4_phone_gets_its_fds_joined_by_stat_end_to_end(make_double, tmp_path):
    """A phone whose fdinfo prints no ino: (Android 11, 5.4), over adb with the default
    --fd-inodes auto: the collector's probe sees exp_name without ino:, stats every fd (`ls -i -L`
    follows each fd link to its buffer's file), and every fd joins its buffer by that inode.
    In the double a link `/dmabuf:NAME` resolves inside its chroot: each buffer here has a file
    of its own there (the names are unique so that each link text names one file), whose real
    inode is the one bufinfo and maps print."""
    import os
    from droidtrack.ingest.stream import snapshot_from_frames
    from droidtrack.sim.synth import DeviceTree
    staging = tmp_path / "objs"
    staging.mkdir()
    spec = [("fb", 8294400), ("CAMERA-0", 3686400), ("CAMERA-1", 3686400), ("meta", 4096)]
    inodes = {}
    for name, size in spec:
        f = staging / name
        f.touch()
        os.truncate(f, size)
        inodes[name] = f.stat().st_ino
    t = DeviceTree("a11-5.4")
    t.add_process(600, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(4321, "com.example.cam", cmdline=("com.example.camera",), uid=10123)
    bufs = {name: t.add_buffer(size, name=name, inode=inodes[name]) for name, size in spec}
    t.hold_fd(600, bufs["fb"])
    t.hold_map(600, bufs["fb"])
    for name in ("CAMERA-0", "CAMERA-1", "meta"):
        t.hold_fd(4321, bufs[name])
    t.hold_fd(600, bufs["CAMERA-0"])
    root = tmp_path / "phone"
    t.write(root)
    staging.rename(root / "objs")                         # a rename keeps every inode
    for name, _ in spec:
        os.symlink(f"/objs/{name}", root / f"dmabuf:{name}")
    p = make_double(root, DeviceConfig(rooted=True))
    token, r = collect(p.target)
    fr = frames.decode(r.data, token)
    assert fr.complete and fr.sections["fdstat"].status == "ok", fr.sections["fdstat"].stderr
    snap = snapshot_from_frames(fr)
    held = {b.name: {pid: h.fds for pid, h in b.holders.items()} for b in snap.buffers.values()}
    want = {b["name"]: {int(pid): tuple(h["fds"]) for pid, h in b["holders"].items() if h["fds"]}
            for b in t.truth()["buffers"]}
    assert {n: {pid: fds for pid, fds in h.items() if fds} for n, h in held.items()} == want
    assert all(b.provenance.get("fd_join", "").endswith("by stat(/proc/PID/fd/N)")
               for b in snap.buffers.values())
    assert not any(pr.reported.get("unjoined_fds") for pr in snap.processes.values())
    # --fd-inodes never: no stat; these unique names still join, on size+exporter+name
    token, r = collect(p.target, fd_inodes="never")
    fr = frames.decode(r.data, token)
    assert fr.complete and "fdstat" not in fr.sections
    snap = snapshot_from_frames(fr)
    assert all(b.provenance.get("fd_join", "").endswith("(unique)") for b in snap.buffers.values())
