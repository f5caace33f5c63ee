"""Processes the tests start (droidtrack serve, Prometheus, Chromium): a child logging to a file,
polled until it answers as wanted, and ended with SIGTERM, then SIGKILL after a grace time."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path


def end(proc: subprocess.Popen, grace: float) -> int:
    """SIGTERM `proc` if it still runs, SIGKILL it if it has not exited `grace` seconds later;
    its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Logged:
    """`argv` run with its stdout and stderr in the file `log`."""

    def __init__(self, argv: list, log: Path, **popen) -> None:
        self.log = open(log, "wb+")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, **popen)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def poll_until(self, ask, pred, timeout: float, interval: float):
        """ask() every `interval` s (an OSError counts as no answer) until pred(answer) holds; that
        answer. AssertionError when the process exits first, (False, last answer) on timeout."""
        end_at = time.monotonic() + timeout
        last = None
        while time.monotonic() < end_at:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.output()[-3000:]}"
            try:
                last = ask()
                if pred(last):
                    return True, last
            except OSError:
                pass
            time.sleep(interval)
        return False, last

    def stop(self, grace: float = 20.0) -> int:
        rc = end(self.proc, grace)
        self.log.close()
        return rc
