"""The double's phone: a directory laid out like Android's root, where commands run as on a phone.

Faithful mode (mksh and toybox installed, mount namespaces available): commands run under mksh
with toybox applets, chrooted into a per-double root directory inside a private mount namespace.
In that namespace the fixture's device root is bind-mounted where a phone has it: `proc/` over
/proc, `sys/` over /sys, each entry of `dev/` (dma_heap) under /dev, other top-level directories
(vendor, ...) at their place; the host's /usr is bound read-only so that the shell and its applets
find their libraries. /data/local/tmp is a real directory of the per-double root, owned by shell
(uid 2000) as on a phone.

One namespace is made per double (a small holder process keeps it alive) and every command
enters it with `nsenter`, which also drops to uid/gid 2000 (shell) unless adbd is rooted: one
exec per command instead of a dozen mounts, so a command starts in about a millisecond while
each double still sees only its own device. `su` is a shim over a setuid-root copy of setpriv,
reachable only inside the chroot.

Needs root on the host for the full phone (uid 2000 with real permission errors); without root it
runs in a user namespace where every command is "root" (rootless mode).

Fallbacks, so that the demo runs after `pip install` alone (`Runtime`, decided once per process):
- tools: without mksh or toybox on PATH, commands run under the host's POSIX sh (dash, bash,
  busybox sh) and the host's utilities; the collector is written for those too.
- isolation: where no mount namespace can be made (a container without CAP_SYS_ADMIN and
  without user namespaces, or a host whose shell is not below /usr), commands run directly on the
  host as the host user, in the per-double root directory: the device paths a command names
  (/data/local/tmp, /system, /proc, /sys, ...) are rewritten to where they live on the host and the
  collector gets `--root` (the device root) since there is no private /proc. adbd is then rooted,
  as in rootless mode.
DROIDTRACK_DOUBLE_TOOLS=host|toybox and DROIDTRACK_DOUBLE_ISOLATION=none|namespace force either.
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from droidtrack.double.runtime import UNSHARE, SandboxError, runtime, system_tool
from droidtrack.double.shims import (DMABUF_DUMP, DUMPSYS, GETPROP, ID, RUN_AS, RUN_AS_IN, SELF_UID, SHIMS, SU_STYLES,
                                     TOYBOX_SHIM)

SHELL_UID = 2000
SETPRIV = system_tool("setpriv")
NSENTER = system_tool("nsenter")

# Android's fixed ids (system/core/libcutils/include/private/android_filesystem_config.h)
ANDROID_IDS = [
    (0, "root"), (1000, "system"), (1001, "radio"), (1002, "bluetooth"), (1003, "graphics"),
    (1004, "input"), (1005, "audio"), (1006, "camera"), (1007, "log"), (1013, "media"),
    (1015, "sdcard_rw"), (1021, "gps"), (1041, "audioserver"), (1046, "mediacodec"),
    (1047, "cameraserver"), (1053, "webview_zygote"), (1066, "statsd"), (1067, "incidentd"),
    (2000, "shell"), (3003, "inet"), (3009, "readproc"), (9999, "nobody"),
]


def _toybox_applets(toybox: str) -> list[str]:
    out = subprocess.run([toybox], capture_output=True, text=True, timeout=10).stdout
    return [a for a in out.split() if a not in SHIMS and a != "su" and a != "["] + ["["]


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    data = text.encode() if isinstance(text, str) else text
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def format_props(props: dict[str, str]) -> str:
    return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))


def read_build_prop(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return props
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        props[k.strip()] = v.strip()
    return props


class Sandbox:
    """A per-double Android-like root and the namespace its commands run in."""

    def __init__(self, device_root: str | os.PathLike, props: dict[str, str] | None = None,
                 su: str = "none", apply_permissions: bool = True, rootless: bool | None = None,
                 tools: str | None = None, isolation: str | None = None,
                 packages: dict[str, tuple[int, bool]] | None = None) -> None:
        # rootless: without root on the host, a user namespace maps us to root inside, so bind
        # mounts and chroot still work; but there is no uid 2000 then: every command runs as
        # "root" with the host user's real permissions (adbd is rooted, as on an emulator image)
        self.rootless = os.geteuid() != 0 if rootless is None else rootless
        self.rt = runtime(self.rootless, tools, isolation)
        self.direct = self.rt.isolation == "none"
        if self.direct:
            self.rootless = True       # commands run as the host user: no uid 2000 either
        self.device_root = Path(device_root).resolve()
        if not self.device_root.is_dir():
            raise SandboxError(f"device root {self.device_root} is not a directory")
        self.base = Path(tempfile.mkdtemp(prefix="droidtrack-double-"))  # 0700: host users stay out
        self.root = self.base / "root"
        self.etc = self.root / "system/etc/double"
        self.binds: list[tuple[str, Path]] = []     # (device path, host path)
        self._holder: subprocess.Popen | None = None
        self._props_extra = dict(props or {})
        self._su = "none"
        self.packages = dict(packages or {})     # name -> (uid, debuggable): what run-as knows
        if apply_permissions and (self.device_root / "permissions.txt").exists():
            # what synth.DeviceTree denies the shell user (git keeps no modes)
            from droidtrack.sim.synth import apply_permissions as _apply
            _apply(self.device_root)
        try:
            self._build()
            self.set_su(su)
            self.write_props()
            self._start_holder()
        except BaseException:
            self.close()
            raise

    # ---- the root ----------------------------------------------------------------------
    def _build(self) -> None:
        r = self.root
        for d in ("usr", "proc", "sys", "dev", "etc", "system/bin", "system/xbin", "system/etc/double/dumpsys",
                  "data/local/tmp", "sdcard", "vendor"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for d in ("system", "system/bin", "system/xbin", "system/etc", "system/etc/double", "etc", "dev",
                  "system/etc/double/dumpsys", "vendor"):
            os.chmod(r / d, 0o755)
        os.chmod(r / "data", 0o771)
        os.chmod(r / "data/local", 0o751)
        os.chmod(r / "data/local/tmp", 0o771)
        os.chmod(r / "sdcard", 0o770)
        if not self.rootless:
            os.chown(r / "data", 1000, 1000)
            os.chown(r / "data/local/tmp", SHELL_UID, SHELL_UID)
            os.chown(r / "sdcard", 0, 1015)
        for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "system/bin")):
            if not (r / link).is_symlink():
                os.symlink(target, r / link)
        # identities a phone's ls -l and id print
        _write(r / "etc/passwd", "".join(f"{n}:x:{i}:{i}::/:/system/bin/sh\n" for i, n in ANDROID_IDS))
        _write(r / "etc/group", "".join(f"{n}:x:{i}:\n" for i, n in ANDROID_IDS))
        _write(r / "etc/nsswitch.conf", "passwd: files\ngroup: files\n")
        sb = r / "system/bin"
        rt = self.rt
        os.symlink(rt.shell, sb / "sh")
        if rt.toybox:
            for a in _toybox_applets(rt.toybox):
                if not (sb / a).exists():
                    os.symlink(rt.toybox, sb / a)
            os.symlink(rt.toybox, sb / "toybox")
        self._binds_for(self.device_root)
        if not rt.toybox:
            # the host's utilities: below /usr inside the chroot, on the host's PATH when direct
            toybox = TOYBOX_SHIM.replace("@HOSTPATH@", shlex.quote(self._host_path_var()))
            _write(sb / "toybox", self.script(toybox), 0o755)
        self._write_packages()
        for name, text in (("getprop", GETPROP), ("dumpsys", DUMPSYS), ("dmabuf_dump", DMABUF_DUMP),
                           ("id", ID), (".self-uid", SELF_UID), ("run-as", RUN_AS), (".run-as-in", RUN_AS_IN)):
            _write(sb / name, self.script(text), 0o755)
        shutil.copy(SETPRIV, r / "system/xbin/.su-elevate")
        # setuid root, like a userdebug su (rootless: everything already runs as root)
        os.chmod(r / "system/xbin/.su-elevate", 0o755 if self.rootless else 0o4755)
        self._binds_for(self.device_root, make=True)

    def _write_packages(self) -> None:
        """packages.list for run-as, and each app's data directory (/data/user/0/<name>, 0700,
        owned by the app's uid; /data/data links there) as on a phone."""
        r = self.root
        (r / "data/user/0").mkdir(parents=True, exist_ok=True)
        os.chmod(r / "data/user", 0o711)
        os.chmod(r / "data/user/0", 0o771)
        if not (r / "data/data").is_symlink():
            os.symlink("/data/user/0", r / "data/data")
        lines = []
        for name, (uid, debuggable) in sorted(self.packages.items()):
            d = r / "data/user/0" / name
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
            if not self.rootless:
                os.chown(d, uid, uid)
            lines.append(f"{name} {uid} {int(bool(debuggable))} /data/user/0/{name} default:targetSdkVersion=34 3003\n")
        _write(self.etc / "packages.list", "".join(lines))
        if self.packages:       # the apps' users, as a phone's id and ls -l print them (u0_a123)
            ids = ANDROID_IDS + sorted({(uid, f"u0_a{uid - 10000}") for uid, _ in self.packages.values()})
            _write(r / "etc/passwd", "".join(f"{n}:x:{i}:{i}::/:/system/bin/sh\n" for i, n in ids))
            _write(r / "etc/group", "".join(f"{n}:x:{i}:\n" for i, n in ids))

    def _host_path_var(self) -> str:
        if not self.direct:
            return "/usr/bin:/usr/sbin"
        return os.environ.get("PATH") or "/usr/bin:/bin:/usr/sbin:/sbin"

    def _binds_for(self, dr: Path, make: bool = False) -> None:
        """Where the fixture's device root appears on the phone (`binds`); `make` creates the
        mount points in the per-double root."""
        r = self.root
        self.binds = [("/usr", Path("/usr"))]
        for name in ("proc", "sys"):
            if (dr / name).is_dir():
                self.binds.append(("/" + name, dr / name))
        if (dr / "sys/kernel/tracing").is_dir():       # tracefs is writable to root (trace.sh)
            self.binds.append(("/sys/kernel/tracing", dr / "sys/kernel/tracing"))
        if (dr / "dev").is_dir():
            for e in sorted((dr / "dev").iterdir()):
                dst = r / "dev" / e.name
                if not make:
                    pass
                elif e.is_dir():
                    dst.mkdir(exist_ok=True)
                else:
                    dst.touch()
                self.binds.append(("/dev/" + e.name, e))
        for e in sorted(dr.iterdir()):
            if e.name in ("proc", "sys", "dev", "system", "data", "etc", "usr", "lib", "lib64", "bin"):
                continue
            dst = r / e.name
            if e.is_symlink():                        # /d -> /sys/kernel/debug on older phones
                if make and not dst.exists() and not dst.is_symlink():
                    os.symlink(os.readlink(e), dst)
            elif e.is_dir():
                if make:
                    dst.mkdir(exist_ok=True)
                    os.chmod(dst, 0o755)
                self.binds.append(("/" + e.name, e))
        for dev in ("null", "zero", "random", "urandom", "tty"):
            if make:
                (r / "dev" / dev).touch()
            self.binds.append(("/dev/" + dev, Path("/dev") / dev))
        # direct mode: the device paths a command may name, longest first
        prefixes = {d for d, h in self.binds if d != str(h)} | {"/data", "/sdcard", "/system", "/vendor"}
        self._path_re = re.compile(r"(?<![\w.\-/])(" + "|".join(
            re.escape(p) for p in sorted(prefixes, key=len, reverse=True)) + r")(?=/|$|[\s;'\"|&()<>`*])")

    def script(self, text: str) -> str:
        """A shim's text for this runtime (direct mode: device paths as host paths)."""
        return self.translate(text) if self.direct else text

    def translate(self, command: str) -> str:
        """Direct mode: the command with device paths rewritten to host paths, and the collector
        told where the device root is (there is no private /proc)."""
        if not self.direct:
            return command
        out = self._path_re.sub(lambda m: str(self.host_path(m.group(1))), command)
        if "collect.sh" in out and "--root" not in out:
            root = shlex.quote(str(self.device_root))
            out = re.sub(r"(?<=\s)--token(?=\s)", lambda m: f"--root {root} --token", out)
        return out

    def _start_holder(self) -> None:
        if self.direct:
            return
        lines = ["set -e"]
        for devpath, host in self.binds:
            # /usr recursively: a host's /usr may hold mounts of its own, which a user namespace
            # may not bind without them
            how = "rbind,ro" if devpath == "/usr" else "bind,ro" if devpath == "/sys" else "bind"
            lines.append(f"{system_tool('mount')} -o {how} {shlex.quote(str(host))} {shlex.quote(str(self.root) + devpath)}")
        cat = "/system/bin/cat" if self.rt.toybox else os.path.realpath(shutil.which("cat") or "/usr/bin/cat")
        lines.append(f"exec {system_tool('chroot')} {shlex.quote(str(self.root))} {cat}")
        lines.insert(-1, "echo ready")
        # stdin stays open while the double lives: when it closes (even if the double is killed)
        # cat exits and the namespace with its mounts goes away
        userns = ["-U", "-r"] if self.rootless else []
        self._holder = subprocess.Popen(
            [UNSHARE, *userns, "-m", "--propagation", "private", self.rt.shell, "-c", "\n".join(lines)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        assert self._holder.stdout is not None
        ready = self._holder.stdout.readline()     # after the mounts, before chroot
        if ready != b"ready\n":
            self._holder.wait(timeout=10)
            err = self._holder.stderr.read().decode("utf-8", "replace") if self._holder.stderr else ""
            hint = " (unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone)" \
                if self.rootless else ""
            raise SandboxError(f"could not set up the double's mount namespace: {err.strip()}{hint}")
        deadline = time.monotonic() + 10
        want = str(self.root)
        while time.monotonic() < deadline:
            if self._holder.poll() is not None:
                err = self._holder.stderr.read().decode("utf-8", "replace").strip() if self._holder.stderr else ""
                raise SandboxError("the double's namespace holder exited" + (f": {err}" if err else ""))
            try:
                if os.readlink(f"/proc/{self._holder.pid}/root") == want:
                    return
            except OSError:
                return                             # not allowed to look: trust the ready line
            time.sleep(0.001)
        raise SandboxError("the double's mount namespace did not come up within 10 s")

    # ---- fixture controls ----------------------------------------------------------------
    def write_props(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if extra:
            self._props_extra.update(extra)
        props = {"ro.product.model": "Double", "ro.product.name": "droidtrack_double",
                 "ro.product.device": "double", "ro.build.version.sdk": "34",
                 "ro.build.version.release": "14", "ro.build.type": "userdebug",
                 "ro.debuggable": "1", "ro.hardware": "double"}
        props.update(read_build_prop(self.device_root / "system/build.prop"))
        props.update(self._props_extra)
        _write(self.etc / "props", format_props(props))
        self.props = props
        return props

    def set_su(self, style: str) -> None:
        su = self.root / "system/xbin/su"
        if style == "none":
            if su.exists():
                su.unlink()
        elif style in SU_STYLES:
            _write(su, self.script(SU_STYLES[style]), 0o755)
        else:
            raise ValueError(f"unknown su style {style!r} (none, aosp, magisk, deny)")
        self._su = style

    def set_dumpsys(self, args: str, text: str | bytes | None) -> None:
        p = self.etc / "dumpsys" / (args.replace(" ", "_").replace("/", "_") + ".txt")
        if text is None:
            p.unlink(missing_ok=True)
        else:
            _write(p, text)

    def set_dmabuf_dump(self, text: str | bytes | None) -> None:
        p = self.etc / "dmabuf_dump"
        if text is None:
            p.unlink(missing_ok=True)
        else:
            _write(p, text)

    def set_self_uid(self, uid: int) -> None:
        """Make the fixture's proc/self say who reads it (a phone's /proc/self is the reader)."""
        st = self.device_root / "proc/self/status"
        try:
            text = st.read_text("utf-8", "surrogateescape")
        except OSError:
            return
        u = f"{uid}\t{uid}\t{uid}\t{uid}"
        lines = [f"Uid:\t{u}" if l.startswith("Uid:") else f"Gid:\t{u}" if l.startswith("Gid:") else l
                 for l in text.split("\n")]
        new = "\n".join(lines)
        if new != text:
            st.write_text(new, "utf-8", "surrogateescape")
        ctx = self.device_root / "proc/self/attr/current"
        if ctx.exists():
            ctx.write_text(("u:r:su:s0" if uid == 0 else "u:r:shell:s0") + "\0")

    # ---- running commands -----------------------------------------------------------------
    def argv(self, command: str | None, uid: int) -> list[str]:
        if self.direct:
            return [self.rt.shell, "-c", self.translate(command)] if command else [self.rt.shell]
        assert self._holder is not None
        sh = ["/system/bin/sh", "-c", command] if command else ["/system/bin/sh"]
        if self.rootless:
            return [NSENTER, "-t", str(self._holder.pid), "-U", "--preserve-credentials", "-m", "-r", "-w", "--", *sh]
        return [NSENTER, "-t", str(self._holder.pid), "-m", "-r", "-w",
                "-S", str(uid), "-G", str(uid), "--", *sh]

    @property
    def cwd(self) -> str | None:
        """Where commands start (direct mode: the per-double root, as / on a phone)."""
        return str(self.root) if self.direct else None

    def env(self, uid: int, term: str | None = None) -> dict[str, str]:
        user = "root" if uid == 0 else "shell"
        e = {"PATH": "/system/bin:/system/xbin:/vendor/bin", "HOME": "/", "SHELL": "/system/bin/sh",
             "TMPDIR": "/data/local/tmp", "USER": user, "LOGNAME": user, "HOSTNAME": "localhost",
             "ANDROID_ROOT": "/system", "ANDROID_DATA": "/data", "EXTERNAL_STORAGE": "/sdcard"}
        if not self.rt.toybox and not self.direct:
            e["PATH"] += ":/usr/bin:/usr/sbin"       # the host's utilities stand in for toybox
        if self.direct:
            e = {k: self.translate(v) for k, v in e.items()}
            e["PATH"] += ":" + self._host_path_var()
            e["HOME"] = str(self.root)
        if term:
            e["TERM"] = term
        return e

    def host_path(self, device_path: str) -> Path:
        """Where a device path lives on the host (for the sync service, which runs outside)."""
        p = posixpath.normpath("/" + device_path.lstrip("/"))
        if p.startswith("//"):
            p = p[1:]
        best = None
        for devpath, host in self.binds:
            if p == devpath or p.startswith(devpath + "/"):
                if best is None or len(devpath) > len(best[0]):
                    best = (devpath, host)
        if best is not None:
            return Path(str(best[1]) + p[len(best[0]):])
        return Path(str(self.root) + p) if p != "/" else self.root

    def read_only(self, device_path: str) -> bool:
        p = posixpath.normpath("/" + device_path.lstrip("/"))
        return any(p == d or p.startswith(d + "/") for d in ("/usr", "/proc", "/sys", "/system", "/vendor"))

    def close(self) -> None:
        h, self._holder = self._holder, None
        if h is not None:
            try:
                if h.stdin:
                    h.stdin.close()
                h.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                h.kill()
                h.wait()
            for f in (h.stderr, h.stdout):
                if f:
                    f.close()
        shutil.rmtree(self.base, ignore_errors=True)


def may_access(st: os.stat_result, uid: int, want: int) -> bool:
    """Unix permission check for uid (gid == uid, no supplementary groups); root may do anything."""
    if uid == 0:
        return True
    if st.st_uid == uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid == uid:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    return bits & want == want


def is_link_mode(mode: int) -> bool:
    return stat.S_ISLNK(mode)
