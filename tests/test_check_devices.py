"""`droidtrack check` and `record` through a real adb server and the device double: every exit code
from a live device, and --all-devices on 16 devices in at most twice the time of one."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from device.conftest import small_phone
from droidtrack.cli import main
from droidtrack.double import DeviceConfig, Fault
from droidtrack.history.recording import open_recording
from droidtrack.sources import adb

pytestmark = pytest.mark.adb


@pytest.fixture(autouse=True)
def _fresh_sessions(adb_server):
    # before the server stops: unrooting through a stopped server would start a new one
    yield
    adb.close_sessions()


@pytest.fixture
def budget(tmp_path):
    def make(text: str) -> str:
        p = tmp_path / "b.yaml"
        p.write_text(text)
        return str(p)
    return make


def dev_args(p):
    return ["-H", "127.0.0.1", "-P", str(p.server.port), "-s", p.serial]


def test_live_device_within_and_over_budget(phone, budget, capsys):
    ok = budget("version: 1\nmin_coverage: 0.9\ntotal: 64MiB\ntags: {camera: 16MiB}\n")
    assert main(["check", "-b", ok, *dev_args(phone)]) == 0
    over = budget("version: 1\nprocesses: {'com.example.*': 8MiB}\n")
    assert main(["check", "-b", over, *dev_args(phone)]) == 1
    out = capsys.readouterr().out
    assert "FAIL    process com.example.*" in out and "10.5 MiB" in out


def test_running_as_shell_lowers_coverage_below_min_coverage(phone, budget, capsys):
    b = budget("version: 1\nmin_coverage: 0.9\ntotal: 64MiB\n")
    assert main(["check", "-b", b, *dev_args(phone), "--su", "never"]) == 2
    out = capsys.readouterr().out
    assert "is below min_coverage 90%" in out


def test_unauthorized_device_and_no_device(make_double, device_root, adb_server, budget, capsys):
    b = budget("version: 1\ntotal: 64MiB\n")
    assert main(["check", "-b", b, "-H", "127.0.0.1", "-P", str(adb_server.port)]) == 2
    assert "could not measure" in capsys.readouterr().out
    un = make_double(device_root, DeviceConfig(state="unauthorized"))
    assert main(["check", "-b", b, *dev_args(un)]) == 2
    assert "Allow USB debugging" in capsys.readouterr().out


def test_disconnect_mid_collection(phone, budget, capsys):
    b = budget("version: 1\ntotal: 64MiB\n")
    phone.double.add_fault(Fault("drop", after_bytes=2000, match="collect.sh", offline=True))
    assert main(["check", "-b", b, *dev_args(phone)]) == 2
    assert "could not measure" in capsys.readouterr().out


def test_record_a_device_then_check_and_diff_the_recording(phone, budget, tmp_path, capsys):
    rec = tmp_path / "r.dtr"
    assert main(["record", str(rec), *dev_args(phone), "-n", "3", "-i", "50ms", "-q"]) == 0
    r = open_recording(str(rec))
    # a droidtrack.recording/2 (SQLite) file: samples are rows, not raw streams
    assert [s.kind for s in r.samples] == ["rows"] * 3 and r.samples[0].meta["serial"] == phone.serial
    b = budget("version: 1\ngrowth: {total: 1MiB}\nleaks: {max_suspects: 0}\n")
    assert main(["check", "-b", b, "--replay", str(rec)]) == 0
    assert main(["diff", f"{rec}@0", f"{rec}@-1"]) == 0
    assert "buffers: 0 appeared" in capsys.readouterr().out


@pytest.mark.slow
def test_all_devices_checks_sixteen_devices_concurrently(make_double, tmp_path, budget, capsys):
    """Sixteen devices in one run, one JUnit suite each. The speed target (≤ 2x one device) is a
    benchmark, not a test: the elapsed times are printed here and recorded in docs/ci.md, but a
    busy 2-core machine running 16 doubles must not decide a test."""
    small_phone().write(tmp_path / "p")
    phones = [make_double(tmp_path / "p") for _ in range(16)]
    b = budget("version: 1\ntotal: 64MiB\n")
    server = ["-H", "127.0.0.1", "-P", str(phones[0].server.port)]
    j = tmp_path / "j.xml"

    def timed(argv):
        adb.close_sessions()                 # every run starts cold (push, root), like a CI job
        t = time.monotonic()
        assert main(["check", "-b", b, *server, *argv]) == 0
        return time.monotonic() - t
    one = timed(["-s", phones[0].serial])
    many = timed(["--all-devices", "--junit", str(j)])
    out = capsys.readouterr().out
    assert "summary: 16 devices: 16 within budget" in out
    suites = ET.parse(j).getroot().findall("testsuite")
    assert sorted(s.find("properties/property[@name='device']").get("value").split()[0] for s in suites) == \
        sorted(p.serial for p in phones)
    print(f"one device {one:.2f}s, 16 devices {many:.2f}s ({many / one:.2f}x)")


def test_all_devices_reports_each_device_and_unreachable_servers(make_double, tmp_path, budget, capsys):
    small_phone().write(tmp_path / "p")
    ok = make_double(tmp_path / "p")
    un = make_double(tmp_path / "p", DeviceConfig(state="unauthorized"))
    b = budget("version: 1\ntotal: 64MiB\n")
    code = main(["check", "-b", b, "--all-devices", "--adb-server", f"127.0.0.1:{ok.server.port}",
                 "--adb-server", "127.0.0.1:1"])
    out = capsys.readouterr().out
    assert code == 2
    assert "summary: 3 devices: 1 within budget, 0 exceeded, 2 could not be measured" in out
    assert f"{un.serial}" in out and "device is unauthorized" in out
    assert "adb server 127.0.0.1:1" in out
