"""Temporary files of a collector killed outright (SIGKILL: its trap never runs) are removed by the
next run (issue 12 #10), under every shell, while a running collector's files are left alone."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from collector_support import COLLECT, SHELL_TOOLS, SHELLS, TOKEN, applet_dir, base_dir, run_collector
from needs import needs

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "a13-5.15"


@pytest.fixture(params=list(SHELLS))
def shell(request):
    needs.skip_unless(*SHELL_TOOLS[request.param])
    return request.param


def _killed_leftovers(shell: str, tmp: Path) -> list[str]:
    """Start the collector, SIGKILL it while it holds its temporary files."""
    argv0, provider = SHELLS[shell]
    env = {"PATH": str(applet_dir(provider))}
    p = subprocess.Popen([*argv0, str(COLLECT), "--token", TOKEN, "--root", str(FIXTURE), "--tmp", str(tmp)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 10
    while not any(n.startswith(f".droidtrack.{p.pid}.") for n in os.listdir(tmp)) and time.time() < deadline:
        time.sleep(0.001)
    os.killpg(p.pid, signal.SIGKILL)          # the shell and any applet it runs (no orphan writes later)
    p.wait(timeout=10)
    return sorted(n for n in os.listdir(tmp) if n.startswith(f".droidtrack.{p.pid}."))


def test_a_killed_collectors_files_are_removed_by_the_next_run(shell):
    tmp = Path(tempfile.mkdtemp(dir=base_dir()))
    left = _killed_leftovers(shell, tmp)
    assert left, "SIGKILL leaves the temporary files (nothing could clean them)"
    # a file of a collector that still runs (this sleep stands for it) and an unrelated file stay
    live = subprocess.Popen(["sleep", "30"])
    try:
        (tmp / f".droidtrack.{live.pid}.err").write_text("")
        (tmp / "notes.txt").write_text("mine")
        (tmp / ".droidtrack.x.err").write_text("")       # not a pid: not ours to judge
        run = run_collector(FIXTURE, shell, tmp=tmp)
        assert run.rc == 0 and run.fr.complete
        assert sorted(run.leftovers) == sorted([f".droidtrack.{live.pid}.err", "notes.txt", ".droidtrack.x.err"])
    finally:
        live.kill()
        live.wait()


def test_no_process_more_when_nothing_is_stale(shell):
    """The clean-up costs no process on the hot path: the count is the same as with a clean tmp."""
    needs.skip_unless("strace")
    tmp = Path(tempfile.mkdtemp(dir=base_dir()))
    clean = run_collector(FIXTURE, shell, tmp=tmp, trace=True, writes=False).procs
    _killed_leftovers(shell, tmp)
    stale = run_collector(FIXTURE, shell, tmp=tmp, trace=True, writes=False)
    again = run_collector(FIXTURE, shell, tmp=tmp, trace=True, writes=False).procs
    assert stale.leftovers == []
    assert stale.procs in (clean, clean + 1)    # the one rm (busybox sh runs it in-process)
    assert again == clean
