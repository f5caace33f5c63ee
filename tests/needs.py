"""`needs(...)`: the one way a test says which system tools it runs (tests/conftest.py puts this
directory on sys.path, so every test directory can import it).

On a machine with only Python, a test that runs mksh, toybox, qemu, ... is skipped with the Debian
package to install instead of failing:

    from needs import needs
    @needs("mksh", "toybox")
    def test_...(): ...
    pytestmark = needs("strace")            # a whole module
    needs.skip_unless("busybox")            # inside a test or fixture (e.g. per parameter)

The full suite needs the packages in `PACKAGES` (the same list .ci/run installs).
"""
from __future__ import annotations

import os
import shutil

import pytest

# a tool -> (how to find it: a name on PATH or an absolute path, the Debian package that has it)
TOOLS = {
    "mksh": ("mksh", "mksh"),
    "mksh-static": ("/usr/lib/x86_64-linux-musl/bin/mksh", "mksh"),
    "toybox": ("toybox", "toybox"),
    "busybox": ("busybox", "busybox-static"),
    "dash": ("dash", "dash"),
    "adb": ("adb", "adb"),
    "qemu": ("qemu-system-x86_64", "qemu-system-x86"),
    "strace": ("strace", "strace"),
    "setpriv": ("setpriv", "util-linux"),
    "unshare": ("unshare", "util-linux"),
    "nsenter": ("nsenter", "util-linux"),
    "cpio": ("cpio", "cpio"),
    "gzip": ("gzip", "gzip"),
    "xz": ("xz", "xz-utils"),
    "gcc": ("gcc", "gcc"),
    "chromium": ("chromium", "chromium"),
    "prometheus": ("prometheus", "prometheus"),
    "clang": ("clang", "clang"),
    "bpftool": ("/usr/sbin/bpftool", "bpftool"),
}
# everything the full suite runs (kernel fetch: gcc and libc6-dev build its init helper)
PACKAGES = ("mksh", "toybox", "busybox-static", "dash", "adb", "qemu-system-x86", "strace", "util-linux",
            "cpio", "gzip", "xz-utils", "chromium", "prometheus", "gcc", "libc6-dev",
            "clang", "libbpf-dev", "bpftool")


def find(tool: str) -> str | None:
    """The tool's path here, or None."""
    how, _pkg = TOOLS[tool]
    if how.startswith("/"):
        return how if os.access(how, os.X_OK) else None
    return shutil.which(how)


def missing(*tools: str) -> list[str]:
    return [t for t in tools if find(t) is None]


def reason(tools: list[str]) -> str:
    pkgs = sorted({TOOLS[t][1] for t in tools})
    return f"needs {', '.join(tools)}: apt-get install {' '.join(pkgs)}"


class _Needs:
    def __call__(self, *tools: str):
        gone = missing(*tools)
        return pytest.mark.skipif(bool(gone), reason=reason(gone) if gone else "")

    def skip_unless(self, *tools: str) -> None:
        gone = missing(*tools)
        if gone:
            pytest.skip(reason(gone))


needs = _Needs()
