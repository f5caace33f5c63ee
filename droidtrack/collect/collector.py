"""Finding and running device_scripts/collect.sh on this machine (for --root trees)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from droidtrack.sources import SourceError


def script_path(name: str = "collect.sh") -> Path:
    """A device script (collect.sh, trace.sh): device_scripts/ in a checkout, droidtrack/data/ installed."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent.parent / "device_scripts" / name, here.parent / "data" / name):
        if cand.is_file():
            return cand
    raise SourceError(f"cannot find the collector: neither device_scripts/{name} next to the droidtrack "
                      f"package nor the copy an installed package ships (droidtrack/data/{name})")


def tree_uid(root: Path) -> int | None:
    """The uid the tree says its reader has (proc/self/status), None if it does not say."""
    try:
        text = (root / "proc/self/status").read_text("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            f = line.split()
            return int(f[1]) if len(f) > 1 and f[1].isdigit() else None
    return None


def shell_user_note(root: str | os.PathLike) -> str | None:
    """Why a tree's shell-user permissions (permissions.txt) do not hold in run_local here, or
    None when they hold (or the tree has none)."""
    root = Path(root)
    uid = tree_uid(root)
    if not (root / "permissions.txt").is_file() or uid is None or uid == os.geteuid():
        return None
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return None
    return (f"this tree is a phone read as uid {uid} (its permissions.txt denies that user paths), but "
            f"droidtrack runs as uid {os.geteuid()} and cannot read it as uid {uid}: it read everything "
            f"(run as root with setpriv from util-linux to see what uid {uid} sees)")


def run_local(root: str | os.PathLike, token: str, *, shell: str | None = None, dumpsys: bool = False,
              fd_inodes: str = "auto", timeout: float = 600.0, packages: tuple[str, ...] = (),
              env: dict | None = None) -> tuple[bytes, bytes, int]:
    """Run the collector against a directory laid out like a device root. Returns (stdout, stderr, rc).

    A tree that says its reader is another uid and lists what that user may not read
    (permissions.txt, e.g. fixtures/a15-6.6 as `adb shell` on a user build) is read as that uid,
    on a copy with those permissions applied (as root, with setpriv); shell_user_note says when
    that cannot be done here."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"--root {root}: not a directory")
    if not (root / "proc").is_dir() and not (root / "sys").is_dir():
        raise SourceError(f"--root {root}: no proc/ or sys/ inside: not a device root "
                          "(expected a tree like the ones in fixtures/)")
    sh = shell or shutil.which("sh") or "/bin/sh"
    with tempfile.TemporaryDirectory(prefix="droidtrack-") as tmp:
        os.chmod(tmp, 0o755)
        script = script_path()
        prefix: list[str] = []
        uid = tree_uid(root)
        if (root / "permissions.txt").is_file() and uid not in (None, os.geteuid()) \
                and os.geteuid() == 0 and shutil.which("setpriv"):
            from droidtrack.sim.synth import apply_permissions
            copy = Path(tmp) / "root"
            shutil.copytree(root, copy, symlinks=True)
            for d, _dirs, _files in os.walk(copy):
                os.chmod(d, 0o755)
            apply_permissions(copy)
            shutil.copyfile(script, Path(tmp) / "collect.sh")   # the checkout may be closed to uid
            script, root = Path(tmp) / "collect.sh", copy
            prefix = [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        work = Path(tmp) / "work"
        work.mkdir(mode=0o777)
        os.chmod(work, 0o777)
        args = [*prefix, sh, str(script), "--token", token, "--root", str(root.resolve()), "--tmp", str(work)]
        if dumpsys:
            args.append("--dumpsys")
        if fd_inodes != "auto":
            args += ["--fd-inodes", fd_inodes]
        for p in packages:
            args += ["--package", p]
        try:
            cp = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                                env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            return (e.stdout or b""), (e.stderr or b"") + b"\ncollector timed out", -1
        except OSError as e:
            raise SourceError(f"cannot run the collector with {sh}: {e.strerror}") from None
    return cp.stdout, cp.stderr, cp.returncode
