"""Finding and running device_scripts/collect.sh on this machine (for --root trees)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from droidtrack.sources import SourceError


def script_path() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (here.parent.parent / "device_scripts" / "collect.sh", here.parent / "data" / "collect.sh"):
        if cand.is_file():
            return cand
    raise SourceError("cannot find the collector: neither device_scripts/collect.sh next to the droidtrack "
                      "package nor the copy an installed package ships (droidtrack/data/collect.sh)")


def run_local(root: str | os.PathLike, token: str, *, shell: str | None = None, dumpsys: bool = False,
              fd_inodes: str = "auto", timeout: float = 600.0,
              env: dict | None = None) -> tuple[bytes, bytes, int]:
    """Run the collector against a directory laid out like a device root. Returns (stdout, stderr, rc)."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"--root {root}: not a directory")
    if not (root / "proc").is_dir() and not (root / "sys").is_dir():
        raise SourceError(f"--root {root}: no proc/ or sys/ inside: not a device root "
                          "(expected a tree like the ones in fixtures/)")
    sh = shell or shutil.which("sh") or "/bin/sh"
    args = [sh, str(script_path()), "--token", token, "--root", str(root.resolve())]
    if dumpsys:
        args.append("--dumpsys")
    if fd_inodes != "auto":
        args += ["--fd-inodes", fd_inodes]
    with tempfile.TemporaryDirectory(prefix="droidtrack-") as tmp:
        args += ["--tmp", tmp]
        try:
            cp = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                                env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            return (e.stdout or b""), (e.stderr or b"") + b"\ncollector timed out", -1
        except OSError as e:
            raise SourceError(f"cannot run the collector with {sh}: {e.strerror}") from None
    return cp.stdout, cp.stderr, cp.returncode
