"""`droidtrack devices`, `droidtrack clean` and `droidtrack demo`, run as the CLI runs them."""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import tempfile

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from device.conftest import needs_root, small_phone
from droidtrack.collect import frames
from droidtrack.commands import clean as clean_cmd
from droidtrack.commands import demo as demo_cmd
from droidtrack.commands import devices as devices_cmd
from droidtrack.double import DeviceConfig
from droidtrack.sources import adb

pytestmark = pytest.mark.adb


def parse(module, argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    module.register(sub)
    name = module.__name__.rsplit(".", 1)[1]
    return p.parse_args([name, *argv])


@pytest.fixture(autouse=True)
def _fresh_sessions():
    yield
    adb.close_sessions()


def test_devices_lists_every_state_with_a_hint(make_double, tmp_path, capsys):
    small_phone().write(tmp_path / "a")
    small_phone().write(tmp_path / "b")
    ok = make_double(tmp_path / "a")
    un = make_double(tmp_path / "b", DeviceConfig(state="unauthorized"))
    args = parse(devices_cmd, ["-P", str(ok.server.port)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["SERIAL", "STATE", "MODEL", "WHAT", "NEXT"]
    row_ok = next(l for l in lines if l.startswith(ok.serial))
    row_un = next(l for l in lines if l.startswith(un.serial))
    assert " device " in row_ok and "ready" in row_ok and "Synth a13 5 15" in row_ok
    assert " unauthorized " in row_un and "Allow USB debugging" in row_un
    args = parse(devices_cmd, ["-P", str(ok.server.port), "--json"])
    assert args.func(args) == 0
    data = {d["serial"]: d for d in json.loads(capsys.readouterr().out)}
    assert data[un.serial]["state"] == "unauthorized" and data[ok.serial]["model"] == "Synth_a13_5_15"


def test_devices_with_no_device_and_with_no_server(adb_server, capsys):
    args = parse(devices_cmd, ["-P", str(adb_server.port)])
    assert args.func(args) == 0
    assert "no devices" in capsys.readouterr().out
    args = parse(devices_cmd, ["-H", "127.0.0.2", "-P", "1"])
    assert args.func(args) == 2
    assert "no adb server at 127.0.0.2:1" in capsys.readouterr().err


def test_clean_command(phone, capsys):
    adb.collect(phone.target, frames.new_token())
    args = parse(clean_cmd, ["-P", str(phone.server.port), "-s", phone.serial])
    assert args.func(args) == 0
    assert f"{phone.serial}: removed /data/local/tmp/droidtrack" in capsys.readouterr().out
    assert not phone.double.device_path("/data/local/tmp/droidtrack").exists()
    assert args.func(args) == 0
    assert "nothing to remove" in capsys.readouterr().out
    args = parse(clean_cmd, ["-P", str(phone.server.port), "-s", "no-such-device"])
    assert args.func(args) == 2
    assert "no-such-device" in capsys.readouterr().err


def _camera_fds(data: bytes, token: str) -> int:
    text = frames.decode(data, token).sections["fdlinks"].text()
    block = re.split(r"/proc/4321/fd/?:", text, maxsplit=1)[1].split("\n\n", 1)[0]   # toybox, GNU ls
    return block.count("/dmabuf:CAMERA")


@needs_root
def test_demo_device_evolves_and_cleans_up_after_itself(tmp_path, monkeypatch):
    from droidtrack.sim.demo import LEAK_PER_STEP, start_demo_device
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))    # where the demo makes its directories
    with start_demo_device() as (port, serial):
        assert any(tmp_path.iterdir())
        target = adb.AdbTarget(serial, "127.0.0.1", port, start_server=False)
        counts = []
        for _ in range(3):
            token = frames.new_token()
            r = adb.collect(target, token)
            assert r.error is None and frames.decode(r.data, token).complete
            counts.append(_camera_fds(r.data, token))
        assert counts[1] - counts[0] == LEAK_PER_STEP and counts[2] - counts[1] == LEAK_PER_STEP
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()   # its adb server is gone
    assert list(tmp_path.iterdir()) == []                                      # and its files


@needs_root
def test_demo_command_prints_evolving_tables(capsys):
    args = parse(demo_cmd, ["--count", "2", "-n", "0", "--top", "5"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "demo snapshot 1/2" in out and "demo snapshot 2/2" in out
    assert out.count("com.example.camera") >= 2 and "kernel-only" in out


# ---- every command that takes a device takes the same sources (issue 17) ----------------------
@needs_root
def test_devices_demo_lists_the_demo_phone(capsys):
    from droidtrack import cli
    assert cli.main(["devices", "--demo", "--json"]) == 0
    devs = json.loads(capsys.readouterr().out)
    assert len(devs) == 1 and devs[0]["state"] == "device"


def test_devices_and_clean_take_the_file_sources_and_say_why_they_mean_nothing(tmp_path, capsys):
    from droidtrack import cli
    assert cli.main(["devices", "--root", str(tmp_path)]) == 2
    assert f"--root {tmp_path} is a file, not a device" in capsys.readouterr().err
    assert cli.main(["clean", "--root", str(tmp_path)]) == 0
    assert "nothing to clean" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    for opt in ("--capture", "--replay", "--bugreport", "--report"):
        assert cli.main(["clean", opt, str(tmp_path / "x")]) == 0
        assert "droidtrack only reads that file" in capsys.readouterr().err
        assert cli.main(["devices", opt, str(tmp_path / "x")]) == 2
        assert "droidtrack snapshot " + opt in capsys.readouterr().err


def test_an_adb_server_droidtrack_starts_is_announced_as_adb_does(tmp_path, monkeypatch, capsys):
    """issue 12 #10: a server started for a one-off command said nothing and kept running."""
    import subprocess
    from droidtrack import cli
    from droidtrack.double.adbserver import free_port
    from droidtrack.sources.adb_wire import _find_adb
    adb_bin = _find_adb()
    if adb_bin is None:
        pytest.skip("no adb binary")
    port = free_port()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    try:
        assert cli.main(["devices", "-P", str(port)]) == 0
        err = capsys.readouterr().err
        assert f"starting now at tcp:{port}" in err and f"adb -P {port} kill-server" in err
        assert cli.main(["devices", "-P", str(port)]) == 0           # already running: said once
        assert "starting now" not in capsys.readouterr().err
    finally:
        subprocess.run([adb_bin, "-P", str(port), "kill-server"], capture_output=True, timeout=30,
                       env=dict(os.environ, HOME=str(tmp_path), TMPDIR=str(tmp_path)))
