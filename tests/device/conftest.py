"""Fixtures for tests that drive a real adb server and the device double (droidtrack.double).

Test modules outside this directory use them with `from device.conftest import *`.

    adb_path      the adb binary, parametrized: the adbutils wheel's (36) and Debian's (29);
                  `@one_adb` on a test runs it with the wheel's only
    adb_server    a private `adb -P <free port> nodaemon server` (HOME/TMPDIR in a temp dir)
    device_root   a small phone written by synth.DeviceTree (with shell-denied processes)
    make_double   start a DeviceDouble on a device root and `adb connect` it; stopped at teardown
                  (skipped without mksh and toybox unless the config asks for tools="host")
    phone         one connected double on device_root: .double .server .target .root .tree
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from needs import needs
from droidtrack.double import AdbServer, DeviceConfig, DeviceDouble, system_adb, wheel_adb
from droidtrack.sources.adb import AdbTarget
from droidtrack.sim.synth import DeviceTree

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the device double needs root (mount namespaces)")


def _adbs() -> dict[str, str | None]:
    found: dict[str, str | None] = {"adb36": wheel_adb(), "adb29": None}
    sysadb = system_adb()
    if sysadb:
        out = subprocess.run([sysadb, "version"], capture_output=True, text=True).stdout
        if "Version 29." in out:
            found["adb29"] = sysadb
    return found


ADBS = _adbs()


@pytest.fixture(params=sorted(ADBS), scope="session")
def adb_path(request) -> str:
    path = ADBS[request.param]
    if not path:
        pytest.skip(f"{request.param} is not installed")
    return path


# on a test that one adb (the wheel's) is enough for, where test_adb covers both: `@one_adb`
one_adb = pytest.mark.parametrize("adb_path", ["adb36"], indirect=True)


@pytest.fixture
def adb_server(adb_path, monkeypatch) -> AdbServer:
    with AdbServer(adb_path) as srv:
        # nothing in the test may reach a user's adb server or start one on 5037
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(srv.port))
        monkeypatch.delenv("ANDROID_SERIAL", raising=False)
        monkeypatch.delenv("ANDROID_ADB_SERVER_ADDRESS", raising=False)
        yield srv


def small_phone(generation: str = "a13-5.15") -> DeviceTree:
    """A camera app and the system services holding buffers; the app's fds are denied to shell."""
    t = DeviceTree(generation)
    t.add_process(600, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(700, "allocator@2.0-", cmdline=("/vendor/bin/hw/android.hardware.graphics.allocator@2.0-service",), uid=1000)
    t.add_process(4321, "com.example.cam", cmdline=("com.example.camera",), uid=10123)
    fb = t.add_buffer(8294400, name="FramebufferSurface")
    t.hold_fd(600, fb)
    t.hold_map(600, fb, rss=8294400)
    for i in range(3):
        b = t.add_buffer(3686400, name="CAMERA")
        t.hold_fd(4321, b)
        t.hold_fd(700, b)
    t.deny(4321, "fd")
    t.deny(600, "fd")
    t.set_dumpsys("meminfo", "Applications Memory Usage (in Kilobytes):\nUptime: 1 Realtime: 1\n")
    return t


@pytest.fixture
def device_root(tmp_path) -> Path:
    root = tmp_path / "phone"
    small_phone().write(root)
    return root


@dataclass
class Phone:
    double: DeviceDouble
    server: AdbServer
    root: Path

    @property
    def serial(self) -> str:
        return self.double.serial

    @property
    def target(self) -> AdbTarget:
        return AdbTarget(self.double.serial, "127.0.0.1", self.server.port, start_server=False)


@pytest.fixture
def make_double(adb_server):
    started: list[DeviceDouble] = []

    def make(root: Path, config: DeviceConfig | None = None, *, connect: bool = True) -> Phone:
        if os.geteuid() != 0:
            pytest.skip("the device double needs root (mount namespaces)")
        if config is None or config.tools != "host":
            # the phone as the tests know it: Android's shell and applets (what they print is
            # asserted); tests of the fallback ask for tools="host"
            needs.skip_unless("mksh", "toybox", "unshare", "nsenter", "setpriv")
        d = DeviceDouble(root, config).start()
        started.append(d)
        if connect:
            state = d.config.state
            adb_server.connect(d.serial, state=None if state == "offline" else state)
        return Phone(d, adb_server, Path(root))

    yield make
    for d in started:
        try:
            adb_server.disconnect(d.serial)
        except Exception:
            pass
        d.stop()
        assert not d.errors, f"the double recorded errors: {d.errors}"


@pytest.fixture
def phone(make_double, device_root) -> Phone:
    return make_double(device_root)
