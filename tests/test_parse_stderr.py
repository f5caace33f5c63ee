"""STDERR of collector sections, as toybox, busybox and GNU tools really print it."""
from __future__ import annotations

import os
import shutil
import subprocess

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import stderr

request_cleanup: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _cleanup():
    yield
    for p in request_cleanup:
        shutil.rmtree(p, ignore_errors=True)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_spellings_and_kinds():
    root = "/tmp/root dir"
    text = "\n".join([
        f"grep: {root}/proc/123/fdinfo/7: Permission denied",
        f"grep: {root}/proc/9/maps: No such file or directory",
        f"ls: {root}/proc/1/fd/: Permission denied",
        f"ls: can't open '{root}/proc/2/fd/': Permission denied",
        f"ls: cannot open directory '{root}/proc/3/fd/': Permission denied",
        f"ls: cannot read symbolic link '{root}/proc/4/fd/0': Operation not permitted",
        f"ls: cannot access '{root}/proc/5/fd/': No such file or directory",
        f"cat: {root}/sys/kernel/debug/dma_buf/bufinfo: No such file or directory",
        f"grep: {root}/sys/kernel/dmabuf/buffers/13/attachments/1/device: Is a directory",
        "xargs: grep: exited with status 255; aborting",
        "grep: /data/local/tmp/.droidtrack.77.fdl: No such file or directory",
        "",
    ])
    r = stderr.parse(text, root)
    assert [(e.path, e.pid, e.kind) for e in r.records] == [
        ("/proc/123/fdinfo/7", 123, "denied"),
        ("/proc/9/maps", 9, "vanished"),
        ("/proc/1/fd/", 1, "denied"),
        ("/proc/2/fd/", 2, "denied"),
        ("/proc/3/fd/", 3, "denied"),
        ("/proc/4/fd/0", 4, "denied"),
        ("/proc/5/fd/", 5, "vanished"),
        ("/sys/kernel/debug/dma_buf/bufinfo", None, "missing"),
        ("/sys/kernel/dmabuf/buffers/13/attachments/1/device", None, "other"),
        (None, None, "other"),
        (None, None, "missing"),      # not under ROOT: no path, whole line kept
    ]
    assert r.records[0].message == "Permission denied" and r.records[0].program == "grep"
    assert r.records[-1].message.startswith("grep: /data/local/tmp")
    assert [e.line for e in r.records][:2] == [1, 2]


@pytest.mark.parametrize("tool", [["toybox"], ["busybox"], []])
def test_real_tools_denied_and_vanished(tool):
    if tool and shutil.which(tool[0]) is None or shutil.which("setpriv") is None:
        pytest.skip("tool missing")
    # pytest's tmp_path sits under a 0700 directory: nobody could not even look for a file there
    tmp_path = Path(tempfile.mkdtemp(prefix="dt stderr "))
    request_cleanup.append(tmp_path)
    root = str(tmp_path)
    d = tmp_path / "proc" / "42" / "fd"
    d.mkdir(parents=True)
    (tmp_path / "proc" / "42" / "maps").write_text("x\n")
    os.chmod(tmp_path / "proc" / "42" / "maps", 0)
    os.chmod(d, 0)
    for p in (tmp_path, tmp_path / "proc", tmp_path / "proc" / "42"):
        os.chmod(p, 0o755)
    err = b""
    err += subprocess.run(NOBODY + tool + ["ls", "-l", f"{root}/proc/42/fd/"], capture_output=True).stderr
    err += subprocess.run(NOBODY + tool + ["grep", "-H", "", f"{root}/proc/42/maps", f"{root}/proc/43/maps"],
                          capture_output=True).stderr
    r = stderr.parse(err.decode(), root)
    assert [(e.path, e.pid, e.kind) for e in r.records] == [
        ("/proc/42/fd/", 42, "denied"), ("/proc/42/maps", 42, "denied"), ("/proc/43/maps", 43, "vanished")]


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["", "/r"]))
def test_arbitrary_text_never_raises(text, root):
    stderr.parse(text, root)
    stderr.parse("grep: " + root + "/proc/1/" + text, root)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**7), st.integers(0, 10**5), st.sampled_from(["Permission denied", "No such file or directory"]))
def test_generated_round_trip(pid, fd, msg):
    r = stderr.parse(f"grep: /r/proc/{pid}/fdinfo/{fd}: {msg}\n", "/r")
    e = r.records[0]
    assert (e.path, e.pid, e.kind, e.message) == (f"/proc/{pid}/fdinfo/{fd}", pid,
                                                 "denied" if msg[0] == "P" else "vanished", msg)
