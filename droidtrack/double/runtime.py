"""Which shell and applets the double's commands run under, and how they are isolated: decided
once per process from what this host has (see sandbox.py's docstring for the modes)."""
from __future__ import annotations

import os
import shutil
import subprocess



def system_tool(name: str) -> str:
    """A util-linux/coreutils tool by absolute path: on PATH, else in the sbin directories a
    user's PATH often leaves out (chroot is in /usr/sbin on Debian)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path) or f"/usr/bin/{name}"


UNSHARE = system_tool("unshare")


class SandboxError(RuntimeError):
    pass


class Runtime:
    """Which shell and applets commands run under, and how they are isolated (see the docstring)."""

    def __init__(self, tools: str, isolation: str, shell: str, toybox: str | None, why: str = "") -> None:
        self.tools = tools            # "toybox" (mksh + toybox) | "host" (the host's sh and utilities)
        self.isolation = isolation    # "namespace" (chroot in a private mount namespace) | "none"
        self.shell = shell            # host path of the shell
        self.toybox = toybox
        self.why = why                # why a fallback was taken ("" in faithful mode)

    @property
    def faithful(self) -> bool:
        return self.tools == "toybox" and self.isolation == "namespace"

    def describe(self) -> str:
        sh = os.path.basename(self.shell)
        what = "mksh + toybox" if self.tools == "toybox" else f"{sh} with the host's utilities"
        where = "in a private mount namespace" if self.isolation == "namespace" else "directly on the host"
        return f"{what}, {where}" + (f" ({self.why})" if self.why else "")


def _under_usr(path: str | None) -> bool:
    return bool(path) and os.path.realpath(path).startswith("/usr/")


def _namespaces_work(rootless: bool) -> str:
    """"" if `unshare` can make a mount namespace here, else why not."""
    if not os.access(UNSHARE, os.X_OK):
        return "unshare (util-linux) not found"
    argv = [UNSHARE, *(["-U", "-r"] if rootless else []), "-m", "--propagation", "private", "true"]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare failed: {e}"
    if r.returncode:
        return "no mount namespaces: " + (r.stderr.decode("utf-8", "replace").strip().splitlines() or ["unshare failed"])[-1]
    return ""


_runtimes: dict[tuple, Runtime] = {}


def runtime(rootless: bool, tools: str | None = None, isolation: str | None = None) -> Runtime:
    """The runtime for a new sandbox: the faithful one where this host allows it."""
    tools = tools or os.environ.get("DROIDTRACK_DOUBLE_TOOLS") or "auto"
    isolation = isolation or os.environ.get("DROIDTRACK_DOUBLE_ISOLATION") or "auto"
    key = (rootless, tools, isolation, os.environ.get("PATH", ""))
    if key in _runtimes:
        return _runtimes[key]
    why = []
    mksh, toybox = shutil.which("mksh"), shutil.which("toybox")
    if tools == "toybox" or (tools == "auto" and mksh and toybox):
        if not (mksh and toybox):
            raise SandboxError("mksh and toybox not found (apt-get install mksh toybox)")
        t, shell = "toybox", mksh
    elif tools in ("auto", "host"):
        shell = shutil.which("sh") or "/bin/sh"
        if not os.access(shell, os.X_OK):
            raise SandboxError("no POSIX sh found on PATH")
        t, toybox = "host", None
        if tools == "auto":
            why.append("mksh and toybox are not installed" if not (mksh or toybox) else
                       ("mksh" if not mksh else "toybox") + " is not installed")
    else:
        raise SandboxError(f"DROIDTRACK_DOUBLE_TOOLS: host, toybox or auto, not {tools!r}")
    if isolation not in ("auto", "namespace", "none"):
        raise SandboxError(f"DROIDTRACK_DOUBLE_ISOLATION: namespace, none or auto, not {isolation!r}")
    iso = isolation
    if iso == "auto":
        # a chroot sees the host's /usr only: the shell and applets must live there
        tools_ok = _under_usr(shell) and (t == "toybox" and _under_usr(toybox) or t == "host" and _under_usr(shutil.which("cat")))
        bad = "" if tools_ok else f"{os.path.realpath(shell)} is not below /usr"
        bad = bad or _namespaces_work(rootless)
        iso = "none" if bad else "namespace"
        if bad:
            why.append(bad)
    rt = _runtimes[key] = Runtime(t, iso, os.path.realpath(shell), toybox and os.path.realpath(toybox),
                                  "; ".join(why))
    return rt
