"""The device double through real adb servers (adb 36 from the adbutils wheel and Debian's adb 29):
the adb command line and adbutils must see a device that behaves like a phone."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from needs import needs
from device.conftest import small_phone
from droidtrack.double import DeviceConfig
from droidtrack.sources import adb as dadb

pytestmark = pytest.mark.adb


def sh(phone, *args, input=None, timeout=20):
    return phone.server.run("-s", phone.serial, *args, input=input, timeout=timeout)


def test_shell_v2_keeps_stdout_stderr_and_exit_code(phone):
    r = sh(phone, "shell", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_shell_runs_mksh_and_toybox_as_shell_user_over_the_device_root(phone):
    r = sh(phone, "shell", "echo $KSH_VERSION; id -u; readlink /system/bin/ls; cat /proc/600/status | grep Name; "
                          "ls -l /proc/600/fd/")
    lines = r.stdout.decode().splitlines()
    assert "MIRBSD KSH" in lines[0]
    assert lines[1] == "2000"
    assert lines[2].endswith("toybox")
    assert lines[3] == "Name:\tsurfaceflinger"
    # denied by the fixture: a real EACCES for uid 2000, as on a phone
    assert b"Permission denied" in r.stderr
    assert r.returncode == 1


def test_exec_out_is_binary_clean_and_shell_v1_merges_streams(phone):
    blob = bytes(range(256)) * 4096 + b"\r\n\0tail"
    (phone.double.device_path("/data/local/tmp") / "blob").write_bytes(blob)
    r = sh(phone, "exec-out", "cat /data/local/tmp/blob")
    assert r.stdout == blob
    r = sh(phone, "shell", "-x", "echo a; echo b >&2")
    assert sorted(r.stdout.split()) == [b"a", b"b"]
    assert r.stderr == b""


def test_stdin_reaches_the_command_and_eof_ends_it(phone):
    data = os.urandom(300_000)
    r = sh(phone, "shell", "cat | toybox sha256sum", input=data)
    assert r.returncode == 0
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_large_output_arrives_intact_with_flow_control(phone):
    r = sh(phone, "exec-out", "toybox seq 1 1000000")
    assert r.returncode == 0
    assert r.stdout == "".join(f"{i}\n" for i in range(1, 1000001)).encode()


def test_push_pull_and_listing_with_the_adb_cli(phone, tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(200_000))
    r = sh(phone, "push", str(src), "/data/local/tmp/a/b/payload.bin")
    assert r.returncode == 0, r.stderr
    host = phone.double.device_path("/data/local/tmp/a/b/payload.bin")
    assert host.read_bytes() == src.read_bytes()
    assert host.stat().st_uid == 2000          # adbd (shell) owns what it pushed
    out = tmp_path / "back"
    r = sh(phone, "pull", "/data/local/tmp/a", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "b" / "payload.bin").read_bytes() == src.read_bytes()
    r = sh(phone, "push", str(src), "/system/bin/nope")
    assert r.returncode != 0
    assert b"Read-only file system" in r.stdout + r.stderr
    r = sh(phone, "pull", "/proc/4321/fdinfo/7", str(tmp_path / "x"))
    assert r.returncode != 0                   # denied to the shell user
    assert b"Permission denied" in r.stdout + r.stderr


def test_adbutils_shell_sync_and_device_list(phone, tmp_path):
    adbutils = pytest.importorskip("adbutils")
    client = adbutils.AdbClient(host="127.0.0.1", port=phone.server.port)
    d = client.device(phone.serial)
    assert d.shell("echo hi") == "hi"
    r = d.shell2("echo o; echo e >&2; exit 5", v2=True)
    assert (r.returncode, r.stdout, r.stderr) == (5, "o\n", "e\n")
    d.sync.push(b"hello sync\n", "/data/local/tmp/x/hello.txt")
    assert d.sync.read_bytes("/data/local/tmp/x/hello.txt") == b"hello sync\n"
    names = [e.path for e in d.sync.list("/data/local/tmp/x")]
    assert "hello.txt" in names
    assert d.prop.model == "Synth a13-5.15"


def test_adb_root_and_unroot_restart_adbd_with_real_privileges(phone):
    assert sh(phone, "shell", "id -u").stdout == b"2000\n"
    r = sh(phone, "root")
    assert b"restarting adbd as root" in r.stdout
    r = sh(phone, "wait-for-device", "shell", "id -u; ls /proc/4321/fd/ | wc -l", timeout=30)
    assert r.stdout.split() == [b"0", b"9"]
    r = sh(phone, "unroot")
    assert b"restarting adbd as non root" in r.stdout
    r = sh(phone, "wait-for-device", "shell", "id -u", timeout=30)
    assert r.stdout == b"2000\n"


def test_user_build_refuses_adb_root(make_double, device_root):
    p = make_double(device_root, DeviceConfig(adb_root=False))
    r = sh(p, "root")
    assert b"cannot run as root in production builds" in r.stdout + r.stderr
    assert sh(p, "shell", "id -u; getprop ro.debuggable").stdout.split() == [b"2000", b"0"]


@pytest.mark.parametrize("style,command,uid", [
    ("aosp", "su 0 id -u", b"0"),
    ("aosp", "su -c 'id -u'", None),
    ("magisk", "su -c 'id -u'", b"0"),
    ("deny", "su 0 id -u", None),
])
def test_su_styles(make_double, device_root, style, command, uid):
    p = make_double(device_root, DeviceConfig(su=style, adb_root=False))
    r = sh(p, "shell", command)
    if uid is None:
        assert r.returncode != 0 and r.stdout.strip() != b"0"
    else:
        assert r.stdout.strip() == uid
        # the collector's own view of itself follows the uid it runs as
        assert b"Uid:\t0\t0" in sh(p, "shell", f"su 0 cat /proc/self/status" if style == "aosp"
                                   else "su -c 'cat /proc/self/status'").stdout


def test_closing_the_client_kills_the_command(phone):
    marker = phone.double.device_path("/data/local/tmp")
    cmd = [phone.server.adb, "-P", str(phone.server.port), "-s", phone.serial, "shell",
           "echo $$ > /data/local/tmp/pid; exec sleep 60"]
    proc = subprocess.Popen(cmd, env=phone.server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (marker / "pid").exists() or not (marker / "pid").read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = int((marker / "pid").read_text())
    assert os.path.exists(f"/proc/{pid}")
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10

    def running() -> bool:
        try:        # a process in the middle of exiting answers ENOENT or ESRCH
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] != "Z"
        except OSError:
            return False

    while running():
        assert time.monotonic() < deadline, "the double left the command running"
        time.sleep(0.01)


def test_unknown_service_is_refused(phone):
    with pytest.raises(dadb.AdbError):
        s = dadb.open_service(phone.target, phone.serial, "frobnicate:now", timeout=5)
        s.close()


def test_unauthorized_offline_and_several_devices_as_the_server_sees_them(make_double, tmp_path):
    roots = []
    for i in range(3):
        r = tmp_path / f"p{i}"
        small_phone().write(r)
        roots.append(r)
    ok = make_double(roots[0])
    unauth = make_double(roots[1], DeviceConfig(state="unauthorized"))
    off = make_double(roots[2])
    off.double.set_state("offline")
    ok.server.wait_state(off.serial, "offline", timeout=15)
    states = ok.server.devices()
    assert states[ok.serial] == "device"
    assert states[unauth.serial] == "unauthorized"
    assert states[off.serial] == "offline"
    r = ok.server.run("-s", unauth.serial, "shell", "id")
    assert r.returncode != 0 and b"unauthorized" in r.stderr


def test_raw_socket_before_cnxn_is_ignored_and_garbage_closes(phone):
    # a client that is not adb: packets before CNXN are ignored, a bad magic ends the connection
    with socket.create_connection(("127.0.0.1", phone.double.port), timeout=5) as s:
        from droidtrack.double import protocol as P
        s.sendall(P.packet(P.A_OPEN, 1, 0, b"shell:id\0"))
        s.sendall(P.packet(P.A_CNXN, P.A_VERSION, 4096, b"host::features=shell_v2"))
        hdr = s.recv(24)
        assert P.HEADER.unpack(hdr)[0] == P.A_CNXN
        n = P.HEADER.unpack(hdr)[3]
        banner = b""
        while len(banner) < n:
            banner += s.recv(n - len(banner))
        assert b"features=" in banner and not banner.endswith(b"\0")
        s.sendall(b"\xff" * 24)
        s.settimeout(5)
        assert s.recv(100) == b""


def test_rootless_mode_runs_in_a_user_namespace(make_double, device_root):
    # what a non-root user gets (forced here while running as root): no uid 2000, adbd "rooted"
    p = make_double(device_root, DeviceConfig(rootless=True))
    assert p.double.sandbox.rootless and p.double.config.rooted
    r = sh(p, "shell", "id -u; ls /proc/4321/fd/ | wc -l; cat /proc/self/status | grep Uid")
    assert r.stdout.split()[:2] == [b"0", b"9"]
    assert b"already running as root" in sh(p, "root").stdout


def test_offline_device_comes_back_after_reconnect(phone):
    phone.double.set_state("offline")
    phone.server.wait_state(phone.serial, "offline", timeout=15)
    r = sh(phone, "shell", "true")
    assert r.returncode != 0 and b"offline" in r.stderr
    phone.double.set_state("device")           # answers the handshake the server waits on
    phone.server.wait_state(phone.serial, "device", timeout=5)
    assert sh(phone, "shell", "echo back").stdout == b"back\n"


def _snapshot_json(p=None, root=None) -> dict:
    from droidtrack.collect import frames
    from droidtrack.ingest.stream import snapshot_from_frames
    from droidtrack.model import schema
    if p is None:
        from droidtrack.sources.localroot import LocalRootSource
        snap = LocalRootSource(str(root)).collect().snapshot
    else:
        token = frames.new_token()
        r = dadb.collect(p.target, token)
        assert r.error is None, r.error
        snap = snapshot_from_frames(frames.decode(r.data, token), time=0.0, origin="x", serial="s")
    d = schema.to_dict(snap)
    for k in ("sources", "time", "origin", "problems"):
        d.pop(k, None)              # which applet printed what and where from may differ
    d["device"].pop("serial", None)
    return d


@pytest.mark.parametrize("isolation", ["namespace", "none"])
def test_without_mksh_toybox_or_namespaces_the_collector_sees_the_same_phone(make_double, device_root, isolation):
    # what `pip install` alone gives: the host's sh and utilities, with or without a mount
    # namespace; the same snapshot as the collector run here on the tree (`snapshot --root`)
    try:
        dadb.close_sessions()
        p = make_double(device_root, DeviceConfig(rooted=True, tools="host", isolation=isolation))
        assert (p.double.sandbox.rt.tools, p.double.sandbox.rt.isolation) == ("host", isolation)
        r = sh(p, "shell", "id -u; toybox id -u; id; getprop ro.product.model; ls /data/local/tmp")
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[:2] == ["0", "0"] and "context=u:r:su:s0" in lines[2]
        assert lines[3] == "Droidtrack Synth a13-5.15" or lines[3].startswith("Synth")
        assert _snapshot_json(p) == _snapshot_json(root=device_root)
    finally:
        dadb.close_sessions()


@needs("mksh", "toybox")
def test_toybox_without_namespaces_sees_what_the_faithful_double_sees(make_double, device_root):
    try:
        dadb.close_sessions()
        want = _snapshot_json(make_double(device_root, DeviceConfig(rooted=True)))
        dadb.close_sessions()
        p = make_double(device_root, DeviceConfig(rooted=True, tools="toybox", isolation="none"))
        assert _snapshot_json(p) == want
    finally:
        dadb.close_sessions()


def test_runtime_falls_back_to_the_host_shell_when_path_has_no_mksh(tmp_path, monkeypatch):
    from droidtrack.double import sandbox
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "cat", "unshare"):
        real = shutil.which(tool)
        if real:
            (bindir / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.delenv("DROIDTRACK_DOUBLE_TOOLS", raising=False)
    rt = sandbox.runtime(rootless=os.geteuid() != 0)
    assert rt.tools == "host" and rt.toybox is None and not rt.faithful
    assert "mksh and toybox are not installed" in rt.describe()
    monkeypatch.setenv("DROIDTRACK_DOUBLE_TOOLS", "toybox")
    with pytest.raises(sandbox.SandboxError, match="apt-get install mksh toybox"):
        sandbox.runtime(rootless=False)
    monkeypatch.setenv("DROIDTRACK_DOUBLE_TOOLS", "host")
    monkeypatch.setenv("DROIDTRACK_DOUBLE_ISOLATION", "none")
    rt = sandbox.runtime(rootless=False)
    assert rt.isolation == "none" and "directly on the host" in rt.describe()


def test_direct_mode_rewrites_device_paths_and_gives_the_collector_the_root(device_root):
    from droidtrack.double.sandbox import Sandbox
    sb = Sandbox(device_root, tools="host", isolation="none")
    try:
        cmd = sb.translate("F=/data/local/tmp/droidtrack/collect.sh; exec sh $F --token T --tmp /data/local/tmp/x; "
                           "cat /proc/self/status /system/etc/double/props /dev/null")
        assert f"F={sb.root}/data/local/tmp/droidtrack/collect.sh;" in cmd
        assert f"exec sh $F --root {sb.device_root} --token T --tmp {sb.root}/data/local/tmp/x" in cmd
        assert f"cat {sb.device_root}/proc/self/status {sb.root}/system/etc/double/props /dev/null" in cmd
        assert sb.translate("ls /processes /sysfoo") == "ls /processes /sysfoo"
    finally:
        sb.close()


@needs("unshare")
def test_a_user_path_without_sbin_still_finds_chroot(device_root, monkeypatch):
    # a regular user's PATH on Debian has no /usr/sbin, where chroot lives: the demo as non-root
    # failed with "chroot: inaccessible or not found"
    from droidtrack.double.sandbox import Sandbox
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    try:
        sb = Sandbox(device_root, rootless=True, tools="host", isolation="namespace")
    except Exception as e:                    # pragma: no cover - the failure this pins
        pytest.fail(f"the sandbox did not start: {e}")
    try:
        r = subprocess.run(sb.argv("cat /proc/600/status | head -1", 0), env=sb.env(0), capture_output=True)
        assert r.stdout == b"Name:\tsurfaceflinger\n", r.stderr
    finally:
        sb.close()
