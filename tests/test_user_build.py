"""User builds without root (issue 14): the demo phone served as a user build through a real adb
server (shell uid 2000, ro.debuggable=0, no su, no debugfs, other uids' /proc entries denied,
run-as for the debuggable demo app only), the collector's run-as pass, its refusals, the
shell-visible sources, and the coverage grade."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from needs import needs
from droidtrack.collect import frames
from droidtrack.double import DeviceConfig
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.model.account import account
from droidtrack.model.coverage import coverage
from droidtrack.parse import runas
from droidtrack.sim import demo
from droidtrack.sources import adb as dadb

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.adb, needs("mksh", "toybox", "unshare", "nsenter", "setpriv"),
              pytest.mark.skipif(os.geteuid() != 0, reason="a user build's uids need root on the host")]
APP = demo.DEBUGGABLE_PACKAGE


@pytest.fixture
def user_phone(make_double, tmp_path):
    root = tmp_path / "phone"
    demo.build_step(3, "user").write(root)
    return make_double(root, DeviceConfig(rooted=False, adb_root=False, su="none", packages=demo.PACKAGES))


def sh(phone, cmd):
    r = phone.server.run("-s", phone.serial, "shell", cmd, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_the_user_build_is_a_phone_without_root(user_phone):
    assert sh(user_phone, "id -u")[1] == "2000\n"
    assert sh(user_phone, "getprop ro.debuggable; getprop ro.build.type")[1] == "0\nuser\n"
    assert sh(user_phone, "command -v su")[0] != 0
    rc, _, err = sh(user_phone, "ls /sys/kernel/debug/dma_buf")
    assert rc != 0 and "No such file or directory" in err
    rc, _, err = sh(user_phone, f"cat /proc/{demo.PID_SF}/maps")
    assert rc != 0 and "Permission denied" in err
    rc, _, err = sh(user_phone, "cat /sys/kernel/dmabuf/buffers/2/size")
    assert rc != 0 and "Permission denied" in err
    # adbd stays the shell user
    reply = user_phone.server.run("-s", user_phone.serial, "root", timeout=20)
    assert b"cannot run as root in production builds" in reply.stdout + reply.stderr


def test_run_as_reads_the_apps_own_processes_only(user_phone):
    rc, out, _ = sh(user_phone, f"run-as {APP} id -u; run-as {APP} pwd")
    assert (rc, out) == (0, f"10123\n/data/user/0/{APP}\n")
    rc, out, _ = sh(user_phone, f"run-as {APP} ls /proc/{demo.PID_CAMERA}/fd")
    assert rc == 0 and out.split()
    rc, _, err = sh(user_phone, f"run-as {APP} ls /proc/{demo.PID_SF}/fd")
    assert rc != 0 and "Permission denied" in err


@pytest.mark.parametrize("pkg, text", [("com.android.systemui", "run-as: package not debuggable: com.android.systemui"),
                                       ("com.foo", "run-as: unknown package: com.foo")])
def test_run_as_refuses_as_aosp_does(user_phone, pkg, text):
    rc, out, err = sh(user_phone, f"run-as {pkg} id")
    assert (rc, out, err.strip()) == (1, "", text)


def test_collection_with_run_as_passes_and_refusals(user_phone):
    packages = (APP, "com.android.systemui", "com.foo", "com.google.android.apps.nexuslauncher")
    token = frames.new_token()
    with dadb.AdbSession(user_phone.target) as s:
        res = s.collect(token, dumpsys=True, packages=packages)
    assert s.privilege == "shell"
    # one adb shell per snapshot (the collector's sha check, then one push and one run): the run-as
    # passes ran inside it
    fr = frames.decode(res.data, token)
    assert fr.complete and [p.package for p in fr.passes] == list(packages)
    snap = snapshot_from_frames(fr)
    cam = snap.processes[demo.PID_CAMERA]
    assert cam.read_as == f"run-as {APP}" and cam.fds_readable and cam.maps_readable
    assert snap.sources[f"run-as:{APP}"].status == "ok"
    assert snap.sources["run-as:com.android.systemui"].status == "denied"
    assert "not debuggable" in snap.sources["run-as:com.android.systemui"].detail
    assert snap.sources["run-as:com.foo"].status == "missing"
    assert "not installed" in snap.sources["run-as:com.foo"].detail
    # the refusals are said, never parsed as data: no process, buffer or problem made of their text
    assert not any("package not debuggable" in (p.name or "") for p in snap.processes.values())
    # the shell-visible sources: dumpsys gpu per pid, the app's own memtrack rows, meminfo totals
    assert cam.reported["gpu_mem.total"] == (20 + 2 * 3) * demo.MiB
    assert cam.reported["meminfo.gl_mtrack"] == (20 + 2 * 3) * demo.MiB
    assert snap.processes[demo.PID_SF].reported["gpu_mem.imported"] == 24 * demo.MiB
    assert "dumpsys.dmabuf" in snap.reported
    cov = coverage(snap, account(snap))
    assert cov.grades[demo.PID_CAMERA] == "exact"
    assert cov.grades[demo.PID_SF] == "estimated" and cov.grades[demo.PID_CAMPROV] == "unknown"
    assert cov.headline.startswith(f"{APP} exact (run-as); ")
    assert "estimated from" in cov.headline and "unattributed (of " in cov.headline


def _snapshot(*args):
    r = subprocess.run([sys.executable, "-m", "droidtrack", "snapshot", "--demo", "--format", "json", *args],
                       capture_output=True, timeout=300)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr.decode()


def test_user_build_snapshot_reads_the_app_exactly_as_root_does():
    """The issue's "done when": the app's figures on the user build equal the userdebug (root)
    demo's at the same step; the rest is marked unreadable and nothing is claimed kernel-only."""
    rc, user, err = _snapshot("--demo-build", "user", "--package", APP)
    assert rc == 0, err
    rc, root, err = _snapshot()
    assert rc == 0, err
    assert user["device"]["rooted"] is False and root["device"]["rooted"] is True
    up = {p["pid"]: p for p in user["processes"]}
    rp = {p["pid"]: p for p in root["processes"]}
    cam_u, cam_r = up[demo.PID_CAMERA], rp[demo.PID_CAMERA]
    for k in ("buffers", "rss", "fd_only", "mapped", "in_rss", "by_tag", "fds_readable", "maps_readable"):
        assert cam_u[k] == cam_r[k], k
    assert cam_u["rss"] > 0 and cam_u["coverage"] == "exact" and cam_u["read_as"] == f"run-as {APP}"
    # its buffers, each as the root build sees them, with the app's own fds and maps
    pid = str(demo.PID_CAMERA)
    ub = {b["key"]: b for b in user["buffers"]}
    rb = {b["key"]: b for b in root["buffers"] if pid in b["holders"]}
    assert set(ub) == set(rb)
    for k, b in ub.items():
        assert (b["size"], b["name"], b["exporter"], b["count"]) == \
            (rb[k]["size"], rb[k]["name"], rb[k]["exporter"], rb[k]["count"])
        assert b["holders"][pid] == rb[k]["holders"][pid]
    # PSS: the processes it shares with cannot be read, so its PSS is said to be an upper bound
    assert cam_u["pss"] >= cam_r["pss"] and cam_u["pss_upper_bound"] is True
    assert cam_r["pss_upper_bound"] is False
    # everyone else unreadable, nothing kernel-only claimed
    others = [p for p in user["processes"] if p["pid"] != demo.PID_CAMERA]
    assert all(p["coverage"] != "exact" and p["fds_readable"] is False for p in others)
    assert user["totals"]["kernel_only"] == 0 and user["totals"]["kernel_only_buffers"] == []
    assert user["sources"]["bufinfo"]["status"] in ("not-mounted", "missing")
    assert user["coverage"]["headline"].startswith(f"{APP} exact (run-as)")
    assert user["coverage"]["exact"] == 1 and root["coverage"]["headline"].startswith("all ")


def test_package_refusals_exit_2_only_when_nothing_was_measured():
    rc, doc, err = _snapshot("--demo-build", "user", "--package", "com.foo", "--package", "com.android.systemui")
    assert rc == 2
    assert "--package com.foo is not installed" in err
    assert "--package com.android.systemui is not debuggable" in err
    assert doc["buffers"] == [] and doc["sources"]["run-as:com.foo"]["status"] == "missing"
    rc, doc, err = _snapshot("--demo-build", "user", "--package", APP, "--package", "com.foo")
    assert rc == 0 and "--package com.foo is not installed" in err


@pytest.mark.parametrize("text, kind", [
    ("run-as: package not debuggable: com.a\n", "not-debuggable"),
    ("run-as: unknown package: com.a", "unknown-package"),
    ("run-as: package not an application: com.a", "not-an-application"),
    ("run-as: only 'shell' or 'root' users can run this program", "not-allowed"),
    ("/system/bin/sh: run-as: inaccessible or not found", "no-run-as"),
    ("sh: 1: run-as: not found", "no-run-as"),
    ("", "ok"),
    ("\x1b[2J=cmd|' /C calc'!A0\tunexpected", "error"),
])
def test_run_as_answers_are_recognised(text, kind):
    out = runas.read(text, "com.a")
    assert out.kind == kind
    if kind not in ("ok", "error"):
        assert out.message.startswith("com.a ")


def test_a_cut_run_as_pass_keeps_what_arrived():
    t = "tok1"
    inner = (f"@@{t} HDR v=2 proc=.droidtrack.9.{t} root=/r\n@@{t} BEGIN status\n").encode()
    data = (f"@@{t} HDR v=2 proc=.droidtrack.1.{t} root=\n@@{t} BEGIN props\n[a]: [b]\n\n"
            f"@@{t} END props rc=0 status=ok\n@@{t} PASS run-as com.a\n").encode() + inner
    fr = frames.decode(data, t)
    assert list(fr.sections) == ["props"] and len(fr.passes) == 1
    p = fr.passes[0]
    assert p.package == "com.a" and not p.complete and p.frames is not None
    snap = snapshot_from_frames(fr)
    assert snap.sources["run-as:com.a"].status == "missing"      # no process of it arrived


def test_focus_reads_only_the_app(user_phone):
    """top/check --package: the shell's own pass skips every fd and maps listing (nothing is tried
    for the other processes: neither readable nor unreadable), the run-as pass reads the app."""
    token = frames.new_token()
    with dadb.AdbSession(user_phone.target) as s:
        res = s.collect(token, packages=(APP,), focus=True)
    fr = frames.decode(res.data, token)
    assert fr.complete
    assert [fr.sections[k].status for k in ("fdlinks", "maps", "smaps")] == ["skipped"] * 3
    assert fr.sections["fdlinks"].content.strip() == b""
    snap = snapshot_from_frames(fr)
    cam = snap.processes[demo.PID_CAMERA]
    assert cam.read_as == f"run-as {APP}"
    others = [p for pid, p in snap.processes.items() if pid != demo.PID_CAMERA]
    assert others and all(p.fds_readable is None and p.maps_readable is None for p in others)
    full = snapshot_from_frames(frames.decode(s_collect_full(user_phone), "tokfull"))
    acc, acc_full = account(snap), account(full)
    assert acc.processes[demo.PID_CAMERA] == acc_full.processes[demo.PID_CAMERA]
    assert coverage(snap, acc).headline.startswith(f"{APP} exact (run-as); ")


def s_collect_full(phone) -> bytes:
    with dadb.AdbSession(phone.target) as s:
        return s.collect("tokfull", packages=(APP,)).data


# ---- a test's peak (dmabuf_rss_hwm) on a user build ------------------------------------------
@pytest.fixture
def a15_user_phone(make_double, tmp_path):
    from droidtrack.sim.synth import DeviceTree
    t = DeviceTree("a15-6.6", shell_uid=2000, proc_owners=True)
    t.add_process(4321, "example.camera", cmdline=(APP,), uid=10123)
    t.add_process(612, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    b = t.add_buffer(4 * demo.MiB, name="CAMERA")
    t.hold_fd(4321, b)
    t.hold_fd(612, b)
    for pid in (1, 612, 4321):
        t.deny(pid, "fd")
    root = tmp_path / "a15"
    t.write(root)
    return make_double(root, DeviceConfig(rooted=False, adb_root=False, su="none", packages=demo.PACKAGES))


def test_peak_is_reset_and_read_as_the_app(a15_user_phone):
    from droidtrack.ci.peak import Peak
    hwm = a15_user_phone.root / "proc/4321/dmabuf_rss_hwm"
    assert hwm.read_text() == f"{4 * demo.MiB}\n"
    shell_only = Peak(a15_user_phone.target, a15_user_phone.serial)
    assert shell_only.reset() == 0 and "no dmabuf_rss_hwm could be reset" in shell_only.notes[0]
    peak = Peak(a15_user_phone.target, a15_user_phone.serial, packages=(APP,))
    assert peak.reset() == 1                      # the app's own process only
    assert hwm.read_text().strip() == "0"
    hwm.write_text(f"{9 * demo.MiB}\n")          # what the kernel would say after the test's peak
    assert peak.read() == {4321: 9 * demo.MiB}
    refused = Peak(a15_user_phone.target, a15_user_phone.serial, packages=("com.android.systemui",))
    assert refused.reset() == 0 and "not debuggable" in refused.notes[0]


def test_peak_fixture_gates_a_test(a15_user_phone, pytester, monkeypatch):
    monkeypatch.setenv("ANDROID_SERIAL", a15_user_phone.serial)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(a15_user_phone.server.port))
    monkeypatch.setenv("HWM_FILE", str(a15_user_phone.root / "proc/4321/dmabuf_rss_hwm"))
    pytester.makepyfile(f"""
        import os, pytest
        @pytest.mark.dmabuf_peak(package="{APP}", max="8MiB")
        def test_small(dmabuf_peak):
            open(os.environ["HWM_FILE"], "w").write("{2 * demo.MiB}\\n")
        @pytest.mark.dmabuf_peak(package="{APP}", max="8MiB")
        def test_big(dmabuf_peak):
            open(os.environ["HWM_FILE"], "w").write("{12 * demo.MiB}\\n")
    """)
    r = pytester.runpytest_subprocess("-p", "droidtrack.ci.peak_plugin", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=2, errors=1)          # the gate fails test_big at its teardown
    r.stdout.fnmatch_lines(["*dmabuf peak of pid 4321: 12.0 MiB, above the 8.0 MiB allowed (12582912 > 8388608 bytes)*"])


def test_check_package_budgets_the_app_read_by_run_as(tmp_path):
    budget = tmp_path / "b.yaml"
    budget.write_text(f'version: 1\nprocesses:\n  "{APP}": {{max: 40MiB, metric: rss}}\n')
    r = subprocess.run([sys.executable, "-m", "droidtrack", "check", "--budget", str(budget), "--demo",
                        "--demo-build", "user", "--package", APP], capture_output=True, text=True, timeout=300)
    # only the app was read (collect.sh --focus): coverage is about it, and its exact RSS is over
    assert "coverage 100% (1/1 processes' fds readable)" in r.stdout, r.stdout + r.stderr
    assert "FAIL" in r.stdout and r.returncode == 1, r.stdout + r.stderr


def _check(tmp_path, budget, *args):
    (tmp_path / "b.yaml").write_text(budget)
    out = tmp_path / "check.json"
    r = subprocess.run([sys.executable, "-m", "droidtrack", "check", "--budget", str(tmp_path / "b.yaml"), "--demo",
                        "--demo-build", "user", "--json", str(out), *args], capture_output=True, text=True, timeout=300)
    return r, (json.loads(out.read_text())["devices"][0] if out.exists() else None)


def test_check_package_measures_total_and_tags_on_the_app(tmp_path):
    """The device-wide budgets measure the app's own processes, with the figures the root demo gives
    the app; without --package the user build's unread app is said to be unmeasured, not 0 B within."""
    budget = "version: 1\ntotal: 1GiB\ntags: {camera: 1GiB, gl: 1GiB}\n"
    r, dev = _check(tmp_path, budget, "--package", APP)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"budgets measured for {APP}" in r.stdout and dev["packages"] == [APP]
    rc, root, err = _snapshot()
    cam = next(p for p in root["processes"] if p["pid"] == demo.PID_CAMERA)
    got = {x["budget"]: x["measured"] for x in dev["results"]}
    assert got["total"] == cam["rss"] > 0
    assert got["tag camera"] == cam["by_tag"].get("camera", 0) > 0 and got["tag gl"] == cam["by_tag"].get("gl", 0)
    assert dev["warnings"] == []
    r, dev = _check(tmp_path, f'version: 1\nprocesses: {{"{APP}": 1GiB}}\n', "--strict")
    assert r.returncode == 1 and "whose fds could not be read" in dev["warnings"][0], r.stdout


def test_check_package_of_an_app_read_inexactly_warns_and_strict_fails(tmp_path):
    budget = "version: 1\ntotal: 1GiB\n"
    args = ("--package", APP, "--package", "com.google.android.apps.nexuslauncher")
    r, dev = _check(tmp_path, budget, *args)
    assert r.returncode == 0 and dev["results"][0]["status"] == "pass", r.stdout + r.stderr
    assert "--package com.google.android.apps.nexuslauncher: 1 of its processes could not be read exactly" in r.stdout
    r, dev = _check(tmp_path, budget, *args, "--strict")
    assert r.returncode == 1 and dev["verdict"] == "1 warning(s) under --strict", r.stdout


def test_the_run_as_pass_wins_over_what_the_shell_read_of_the_app(make_double, tmp_path):
    """A phone whose shell may list the app's fd links but not read their fdinfo: the shell's
    pass counts those fds as unjoined; the app's own pass joins them, and its records win."""
    from droidtrack.sim.synth import DeviceTree
    t = DeviceTree("a13-5.15", shell_uid=2000, proc_owners=True, debugfs=False)
    t.add_process(4321, "example.camera", cmdline=(APP,), uid=10123)
    bufs = [t.add_buffer(2 * demo.MiB, name="CAMERA") for _ in range(3)]
    for b in bufs:
        t.hold_fd(4321, b)
    t.hold_map(4321, bufs[0])
    t.deny(4321, "fdinfo")
    root = tmp_path / "phone"
    t.write(root)
    phone = make_double(root, DeviceConfig(rooted=False, adb_root=False, su="none", packages=demo.PACKAGES))
    with dadb.AdbSession(phone.target) as s:
        shell_only = snapshot_from_frames(frames.decode(s.collect("tokA").data, "tokA"))
        both = snapshot_from_frames(frames.decode(s.collect("tokB", packages=(APP,)).data, "tokB"))
    assert shell_only.processes[4321].reported.get("unjoined_fds") == 3
    cam = both.processes[4321]
    assert "unjoined_fds" not in cam.reported and cam.read_as == f"run-as {APP}"
    acc = account(both).processes[4321]
    assert (acc.buffers, acc.rss, acc.fds, acc.maps) == (3, 6 * demo.MiB, 3, 1)
