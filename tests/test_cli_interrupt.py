"""Ctrl-C is exit 130 at any moment, even while droidtrack is still loading its commands (issue 17)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8])
def test_ctrl_c_while_loading_exits_130_without_a_traceback(tmp_path, delay):
    p = subprocess.Popen([sys.executable, "-m", "droidtrack", "record", "--demo", str(tmp_path / "r.db")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}, start_new_session=True)
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)          # as a terminal sends it: to the whole group
    try:
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert "Traceback" not in err, err
