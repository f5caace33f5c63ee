"""The pytest plugin in a sample suite (pytester): before/after snapshots of a device-root tree that
the tests change, as an instrumented app would change a phone."""
from __future__ import annotations

import os

import pytest

from droidtrack.sim.synth import DeviceTree

pytest_plugins = ["pytester"]
MiB = 1 << 20


def phone(leaked: int = 0, orphan: bool = False) -> DeviceTree:
    t = DeviceTree("a13-5.15")
    t.add_process(600, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(4321, "com.example.cam", cmdline=("com.example.camera",), uid=10123)
    fb = t.add_buffer(8 * MiB, name="FramebufferSurface")
    t.hold_fd(600, fb)
    meta = t.add_buffer(3 * MiB, name="cam_meta")
    if not orphan:
        t.hold_fd(4321, meta)
    for _ in range(leaked):
        t.hold_fd(4321, t.add_buffer(2 * MiB, name="CAMERA"))
    return t


@pytest.fixture
def trees(tmp_path):
    """`phone` is a symlink the sample tests point at another tree, as if the device changed."""
    for name, tree in (("clean", phone()), ("leaky", phone(leaked=3)), ("orphan", phone(orphan=True))):
        tree.write(tmp_path / name)
    os.symlink(tmp_path / "clean", tmp_path / "phone")
    return tmp_path


SUITE = """
import os, pytest
ROOT = {root!r}

def point(name):
    os.unlink(os.path.join(ROOT, "phone"))
    os.symlink(os.path.join(ROOT, name), os.path.join(ROOT, "phone"))

@pytest.fixture(autouse=True)
def reset():
    point("clean")
    yield
    point("clean")

@pytest.mark.droidtrack
def test_clean():
    pass

@pytest.mark.droidtrack
def test_leaks_camera_buffers():
    point("leaky")

def test_orphans_with_fixture(droidtrack):
    assert droidtrack.before.buffers
    point("orphan")

def test_unchecked_leak():
    point("leaky")        # not marked, no fixture: not checked in the default scope

@pytest.mark.droidtrack
def test_failing_body_is_reported_as_itself():
    point("leaky")
    assert 1 == 2, "the test's own failure"
"""


def run(pytester, trees, *args):
    pytester.makepyfile(test_sample=SUITE.format(root=str(trees)))
    return pytester.runpytest_subprocess("-p", "droidtrack.ci.pytest_plugin",
                                         "--droidtrack-args", f"--root {trees / 'phone'}", *args)


def test_marked_and_fixture_tests_fail_on_leaks(pytester, trees):
    res = run(pytester, trees, "-rf", "--junitxml", "j.xml")
    res.assert_outcomes(passed=2, failed=3)
    out = res.stdout.str()
    assert "FAILED test_sample.py::test_leaks_camera_buffers" in out
    assert "leaks: 1 suspect(s), 0 allowed" in out and "persistent camera buffers" in out
    assert "FAILED test_sample.py::test_orphans_with_fixture" in out and "orphan buffer" in out
    assert "the test's own failure" in out
    assert "test_unchecked_leak" not in out.split("short test summary")[-1]
    j = (pytester.path / "j.xml").read_text()
    assert 'name="droidtrack leaks"' in j        # measured values land in the JUnit properties


def test_a_budget_file_and_scope_all(pytester, trees):
    (pytester.path / "b.yaml").write_text("version: 1\ngrowth: {tags: {camera: 5MiB}}\ntotal: 64MiB\n")
    res = run(pytester, trees, "--droidtrack-budget", "b.yaml", "--droidtrack-scope", "all")
    # growth of 6 MiB of camera buffers fails the leaky tests (also the unmarked one now); the
    # orphan adds nothing, so its test passes under this budget
    res.assert_outcomes(passed=2, failed=3)
    assert "growth tag camera: 6.0 MiB > 5.0 MiB" in res.stdout.str()


def test_owner_budgets_apply_around_tests(pytester, trees):
    (pytester.path / "b.yaml").write_text("version: 1\ngrowth: {owners: {'com.example.*': 5MiB}}\n"
                                          "owners: {'*surfaceflinger': 64MiB}\n")
    res = run(pytester, trees, "--droidtrack-budget", "b.yaml", "--droidtrack-scope", "all", "--junitxml", "j.xml")
    # the leaky tests' app owns 6 MiB more; the orphan test's app drops cam_meta (the kernel's now)
    res.assert_outcomes(passed=2, failed=3)
    assert "growth owner com.example.*: 6.0 MiB > 5.0 MiB" in res.stdout.str()
    j = (pytester.path / "j.xml").read_text()
    assert 'name="droidtrack owner *surfaceflinger" value="pass 8388608/67108864"' in j


def test_session_scope_checks_once_around_everything(pytester, trees):
    pytester.makepyfile(test_sample=SUITE.format(root=str(trees)).replace(
        'def reset():\n    point("clean")\n    yield\n    point("clean")', 'def reset():\n    yield'))
    res = pytester.runpytest_subprocess("-p", "droidtrack.ci.pytest_plugin", "--droidtrack-scope", "session",
                                        "--droidtrack-args", f"--root {trees / 'phone'}", "-k", "leaks or clean")
    res.assert_outcomes(passed=2)
    assert res.ret == 1
    assert "droidtrack (whole session)" in res.stdout.str()
    assert "FAILED: droidtrack" in res.stdout.str()


def test_could_not_measure_fails_the_test(pytester, trees):
    pytester.makepyfile(test_x="import pytest\n@pytest.mark.droidtrack\ndef test_a():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "droidtrack.ci.pytest_plugin", "--droidtrack-args",
                                        f"--replay {trees / 'none.dtr'}")
    res.assert_outcomes(failed=1)
    assert "droidtrack could not measure before the test" in res.stdout.str()


def test_bad_budget_file_is_a_usage_error(pytester, trees):
    (pytester.path / "b.yaml").write_text("version: 1\ntotl: 1M\n")
    res = run(pytester, trees, "--droidtrack-budget", "b.yaml")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "b.yaml line 2: unknown key 'totl'" in res.stderr.str()


def test_entry_point_is_off_unless_asked_and_coexists_with_p(pytester, trees):
    """Install the pytest11 entry point the lead adds to pyproject into a throwaway dist-info."""
    site = pytester.path / "site"
    dist = site / "droidtrack_ep-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: droidtrack-ep\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\ndroidtrack = droidtrack.ci.pytest_plugin:entry\n")
    pytester.makepyfile(test_sample=SUITE.format(root=str(trees)))
    env_path = os.pathsep.join([str(site), os.path.dirname(os.path.dirname(__file__))])
    pytester._monkeypatch.setenv("PYTHONPATH", env_path)
    args = ("--droidtrack-args", f"--root {trees / 'phone'}")
    off = pytester.runpytest_subprocess("-rs", *args)
    # loaded (its options exist) but off: nothing is checked and the fixture's test skips itself
    off.assert_outcomes(passed=3, failed=1, skipped=1)
    assert "droidtrack is not enabled" in off.stdout.str()
    on = pytester.runpytest_subprocess("--droidtrack", *args)
    on.assert_outcomes(passed=2, failed=3)
    both = pytester.runpytest_subprocess("-p", "droidtrack.ci.pytest_plugin", *args)
    both.assert_outcomes(passed=2, failed=3)


@pytest.mark.parametrize("form", ["space", "equals"])
def test_droidtrack_args_takes_one_dash_word_after_a_space(pytester, trees, form):
    """`--droidtrack-args --capture=FILE` (a single word starting with '-') failed with "expected
    one argument" (issue 17); the `=` form worked."""
    pytester.makepyfile(test_x="import pytest\n@pytest.mark.droidtrack\ndef test_a():\n    pass\n")
    word = f"--replay={trees / 'none.dtr'}"
    args = ["--droidtrack-args", word] if form == "space" else [f"--droidtrack-args={word}"]
    res = pytester.runpytest_subprocess("-p", "droidtrack.ci.pytest_plugin", *args, "-k", "test_a")
    assert "expected one argument" not in res.stderr.str()
    res.assert_outcomes(failed=1)          # the option reached droidtrack: it could not measure
    assert "droidtrack could not measure before the test" in res.stdout.str()
