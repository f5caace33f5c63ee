"""A test's dma-buf peak on kernels with /proc/<pid>/dmabuf_rss_hwm (Android 15+ ACK): reset the
high-water mark at the start (writing 0 sets it to the current dmabuf_rss), read it at the end.
Also on user builds: for a debuggable app the reset and the read run as the app (`run-as PKG`),
which owns its /proc entries. One `adb shell` for each (per package with run-as).

    peak = Peak(target, packages=("com.example.camera",))
    peak.reset()            # -> files reset; 0 where the kernel has no dmabuf_rss_hwm
    ...                     # the test
    peak.read()             # -> {pid: bytes}

The pytest side is `droidtrack.ci.peak_plugin` (the `dmabuf_peak` fixture).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.parse import procfs as p_procfs
from droidtrack.parse import runas as p_runas
from droidtrack.parse.grepout import split_grep
from droidtrack.sources.adb_wire import AdbError, AdbTarget, shell

FILE = "dmabuf_rss_hwm"
# builtins and one grep; every file the reader may write (as an app: its own processes)
_RESET = f"n=0; for f in /proc/[0-9]*/{FILE}; do [ -w \"$f\" ] && echo 0 > \"$f\" && n=$((n + 1)); done 2>/dev/null; echo $n"
# the same files, those of the reader's own processes (all of them as root), in one grep
_READ = (f'set --; for f in /proc/[0-9]*/{FILE}; do [ -w "$f" ] && set -- "$@" "$f"; done; '
         '[ $# -eq 0 ] || grep -H "" "$@" 2>/dev/null; true')


class PeakError(Exception):
    """The peak cannot be taken (run-as refused, no device): the message is for the user."""


@dataclass
class Peak:
    target: AdbTarget
    serial: str | None = None
    packages: tuple[str, ...] = ()
    timeout: float = 30.0
    notes: list[str] = field(default_factory=list)   # what could not be reset or read, in words

    def _serial(self) -> str:
        if self.serial is None:
            from droidtrack.sources.adb_devices import resolve_serial
            self.serial = resolve_serial(self.target)
        return self.serial

    def _run(self, cmd: str) -> list[tuple[str | None, str]]:
        """(package or None, stdout) of cmd run as each package (run-as), else as adbd's user."""
        outs = []
        for pkg in self.packages or (None,):
            full = cmd if pkg is None else f"run-as {pkg} sh -c '{cmd}'"
            try:
                r = shell(self.target, self._serial(), full, timeout=self.timeout)
            except AdbError as e:
                raise PeakError(str(e)) from None
            if r.error:
                raise PeakError(f"device {self.serial}: {r.error}")
            if pkg is not None and r.exit_code not in (0, None):
                why = p_runas.read(r.stderr.decode("utf-8", "backslashreplace"), pkg)
                self.notes.append(why.message or f"{pkg}: run-as exited {r.exit_code}")
                continue
            outs.append((pkg, r.stdout.decode("utf-8", "backslashreplace")))
        return outs

    def reset(self) -> int:
        """Reset every high-water mark the reader may write; returns how many were reset."""
        n = 0
        for pkg, out in self._run(_RESET):
            word = out.strip().splitlines()[-1:] or ["0"]
            k = int(word[0]) if word[0].isdigit() else 0
            if k == 0:
                self.notes.append(f"no {FILE} could be reset" + (f" as {pkg}" if pkg else "")
                                  + " (a kernel before Android 15's ACK has none)")
            n += k
        return n

    def read(self) -> dict[int, int]:
        """pid -> peak dma-buf RSS in bytes since the reset, for the processes whose mark was reset
        (those the reader owns: all as root, an app's own with run-as)."""
        peaks: dict[int, int] = {}
        for _pkg, out in self._run(_READ):
            values = p_procfs.parse_pid_values(split_grep(out, ""), FILE)
            for pid, v in values.records:
                peaks[pid] = v
        return peaks
