"""Boot a real Linux kernel under qemu with a tiny initramfs and get back what it saw.

The initramfs holds busybox-static, the scenario program (scenario.c, built here with
`gcc -static`), droidtrack's device_scripts/collect.sh, Android's shell (Debian's static mksh)
with toybox applets (toybox is dynamically linked: its libraries and loader are copied too), and
vgem.ko with its dependencies. init.sh runs the scenario and the collector and sends everything
back base64-framed over a second serial port, which qemu writes to a file.

    python tests/realkernel/vm.py [--shells busybox,mksh] [--save-captures DIR] [--kernel 6.12|7]
                                  [--bpf] [--no-debugfs]

Used by tests/test_realkernel.py. Nothing here needs KVM: qemu runs in software emulation.
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
COLLECT_SH = REPO / "device_scripts" / "collect.sh"
TRACE_SH = REPO / "device_scripts" / "trace.sh"
MKSH_STATIC = Path("/usr/lib/x86_64-linux-musl/bin/mksh")
TOYBOX = Path("/usr/bin/toybox")
# every applet this toybox has, as on Android (the collector may use any of them: sed, xargs, ...)
TOYBOX_APPLETS = tuple(subprocess.run([str(TOYBOX)], capture_output=True, text=True).stdout.split()) \
    if TOYBOX.exists() else ("ls", "grep", "xargs", "cat", "rm", "sed")


class VMError(RuntimeError):
    """The VM could not be built or run; the message says what to fix."""


def cache_dir() -> Path:
    env = os.environ.get("DROIDTRACK_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "droidtrack-realkernel"


KERNELS = ("6.12", "7")
BPF_SRC = HERE / "dmabuf_iter.bpf.c"
BPFTOOL = Path("/usr/sbin/bpftool")
ITER_PIN = "/sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf"


def fetch_kernel(kernel: str = "6.12") -> Path:
    """Run fetch_kernel.sh (instant when cached) and return the kernel directory."""
    r = subprocess.run(["bash", str(HERE / "fetch_kernel.sh"), kernel], capture_output=True, text=True)
    if r.returncode != 0:
        raise VMError(f"fetch_kernel.sh failed (rc={r.returncode}):\n{r.stderr[-3000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


def _compiled(target: Path, sources: list[Path], argv: list[str], what: str) -> Path:
    """Run the compiler command `argv` unless `target` is newer than every one of `sources`."""
    if target.exists() and all(target.stat().st_mtime >= src.stat().st_mtime for src in sources):
        return target
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise VMError(f"{what} failed:\n{r.stderr}")
    return target


def _static_c(out: Path, name: str, exe: str) -> Path:
    """tests/realkernel/<name> (with dt_common.h) -> a static binary `exe` in `out`."""
    src = HERE / name
    return _compiled(out / exe, [src, HERE / "dt_common.h"],
                     ["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out / exe), str(src)],
                     f"gcc -static {name}")


def build_scenario(out: Path) -> Path:
    return _static_c(out, "scenario.c", "dt_scenario")


def build_owners(out: Path) -> Path:
    """owners.c -> dt_owners: the ownership scenario (an allocator, two apps, a surfaceflinger)."""
    return _static_c(out, "owners.c", "dt_owners")


def build_lifetimes(out: Path) -> Path:
    """lifetimes.c -> dt_lifetimes: the trace workload (droidtrack trace)."""
    return _static_c(out, "lifetimes.c", "dt_lifetimes")


def build_bpf(out: Path) -> Path:
    """dmabuf_iter.bpf.c -> a BPF object (CO-RE: relocated by libbpf against the VM kernel's BTF)."""
    clang = shutil.which("clang")
    if not clang:
        raise VMError("clang is missing: apt-get install clang libbpf-dev (tests/realkernel/fetch_kernel.sh 7 does)")
    obj = out / "dmabuf_iter.bpf.o"
    return _compiled(obj, [BPF_SRC], [clang, "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", "-D__TARGET_ARCH_x86",
                                      "-I/usr/include/x86_64-linux-gnu", "-c", str(BPF_SRC), "-o", str(obj)],
                     "clang -target bpf dmabuf_iter.bpf.c")


# ---- newc cpio writer (the kernel's initramfs format), so no cpio binary is needed ----------

class Cpio:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        self.ino += 1
        rec = hdr.encode() + nb
        rec += b"\0" * (-len(rec) % 4)
        rec += data
        rec += b"\0" * (-len(rec) % 4)
        self.parts.append(rec)

    def mkdir(self, name: str) -> None:
        name = name.strip("/")
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o755) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, 0o120777, target.encode())

    def bytes(self) -> bytes:
        trailer = Cpio()
        trailer.ino = 0
        trailer._entry("TRAILER!!!", 0)
        return b"".join(self.parts + trailer.parts)


def _ldd_libs(binary: Path) -> list[Path]:
    r = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def build_initramfs(kdir: Path, scenario: Path, out: Path, collect_sh: Path | None = None,
                    bpf_obj: Path | None = None, owners_exe: Path | None = None,
                    lifetimes_exe: Path | None = None) -> Path:
    busybox = Path("/bin/busybox")
    for need, pkg in ((busybox, "busybox-static"), (MKSH_STATIC, "mksh"), (TOYBOX, "toybox")):
        if not need.exists():
            raise VMError(f"{need} is missing: apt-get install {pkg} (tests/realkernel/fetch_kernel.sh does)")
    c = Cpio()
    for d in ("bin", "proc", "sys", "dev", "tmp", "run", "modules", "toybox/bin"):
        c.mkdir(d)
    c.file("bin/busybox", busybox.read_bytes())
    c.file("init", (HERE / "init.sh").read_bytes())
    c.file("bin/dt_scenario", scenario.read_bytes())
    if owners_exe is not None:
        c.file("bin/dt_owners", owners_exe.read_bytes())
    c.file("collect.sh", (collect_sh or COLLECT_SH).read_bytes(), 0o644)
    if lifetimes_exe is not None:
        c.file("bin/dt_lifetimes", lifetimes_exe.read_bytes())
        c.file("trace.sh", TRACE_SH.read_bytes(), 0o644)
    c.file("bin/mksh", MKSH_STATIC.read_bytes())
    # toybox is dynamically linked in Debian: bring its loader and libraries along
    c.file("toybox/toybox", TOYBOX.read_bytes())
    for lib in _ldd_libs(TOYBOX):
        real = lib.resolve()
        c.file(str(lib), real.read_bytes())
    for applet in TOYBOX_APPLETS:
        c.symlink(f"toybox/bin/{applet}", "/toybox/toybox")
    if bpf_obj is not None:
        # the loader: Debian's bpftool (dynamically linked: its libraries come along) pins the
        # iterator ("bpftool iter pin"); the object is relocated against the kernel's own BTF
        if not BPFTOOL.exists():
            raise VMError(f"{BPFTOOL} is missing: apt-get install bpftool")
        c.file("bin/bpftool", BPFTOOL.read_bytes())
        for lib in _ldd_libs(BPFTOOL):
            c.file(str(lib), lib.resolve().read_bytes())
        c.file("dmabuf_iter.bpf.o", bpf_obj.read_bytes(), 0o644)
    order = (kdir / "modules.order").read_text().split()
    for m in order:
        c.file(f"modules/{m}", (kdir / m).read_bytes(), 0o644)
    c.file("modules/modules.order", "\n".join(order).encode() + b"\n", 0o644)
    out.write_bytes(c.bytes())
    return out


# ---- running it ----------------------------------------------------------------------------

@dataclass
class VMResult:
    files: dict[str, bytes] = field(default_factory=dict)
    rcs: dict[str, int] = field(default_factory=dict)
    done: bool = False
    seconds: float = 0.0
    console: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return self.files.get("log", b"").decode("utf-8", "replace")


def parse_serial(data: bytes) -> VMResult:
    res = VMResult()
    cur: str | None = None
    chunks: list[bytes] = []
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r")
        if line.startswith(b"@@@DT-FILE "):
            cur, chunks = line[11:].decode(), []
        elif line.startswith(b"@@@DT-END "):
            parts = line[10:].decode().split()
            name, size = parts[0], int(parts[1])
            rc = int(parts[2][3:]) if len(parts) > 2 and parts[2].startswith("rc=") else 0
            blob = base64.b64decode(b"".join(chunks))
            if cur != name or len(blob) != size:
                res.problems.append(f"file {name}: framing broken ({cur!r}, {len(blob)} of {size} bytes)")
            res.files[name] = blob
            res.rcs[name] = rc
            cur = None
        elif line == b"@@@DT-DONE":
            res.done = True
        elif cur is not None:
            chunks.append(line)
    return res


def run_vm(kdir: Path, initramfs: Path, token: str, shells: str = "busybox,mksh", vgem: bool = True,
           odd_names: bool = False, timeout: float = 240.0, workdir: Path | None = None,
           bpf: bool = False, debugfs: bool = True, owners: bool = False, trace: bool = False,
           memcg: int = 0) -> VMResult:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise VMError("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
    work = Path(workdir or tempfile.mkdtemp(prefix="dt-vm-"))
    serial = work / "serial1.out"
    console = work / "console.out"
    for p in (serial, console):
        p.unlink(missing_ok=True)
    append = (f"console=ttyS0 quiet loglevel=3 panic=-1 dt.token={token} dt.shells={shells}"
              + ("" if vgem else " dt.vgem=0") + (" dt.odd=1" if odd_names else "")
              + (" dt.bpf=1" if bpf else "") + ("" if debugfs else " dt.debugfs=0")
              + (" dt.owners=1" if owners else "") + (" dt.trace=1" if trace else "")
              + (f" dma_heap.mem_accounting=1 dt.memcg={memcg}" if memcg else ""))
    cmd = [qemu, "-machine", "q35", "-m", "512M", "-smp", "1", "-nodefaults", "-no-user-config",
           "-display", "none", "-no-reboot",
           "-kernel", str(kdir / "vmlinuz"), "-initrd", str(initramfs), "-append", append,
           "-serial", f"file:{console}", "-serial", f"file:{serial}"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VMError(f"qemu did not finish in {timeout:.0f} s; console:\n"
                      + (console.read_text(errors="replace")[-3000:] if console.exists() else ""))
    elapsed = time.monotonic() - t0
    if p.returncode != 0:
        raise VMError(f"qemu exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    res = parse_serial(serial.read_bytes() if serial.exists() else b"")
    res.seconds = elapsed
    res.console = console.read_text(errors="replace") if console.exists() else ""
    return res


def boot(shells: str = "busybox,mksh", vgem: bool = True, odd_names: bool = False,
         token: str | None = None, workdir: Path | None = None, collect_sh: Path | None = None,
         kernel: str = "6.12", bpf: bool = False, debugfs: bool = True, owners: bool = False,
         trace: bool = False, memcg: int = 0) -> VMResult:
    """Fetch (cached) kernel, build scenario and initramfs, boot, return the VM's files.
    bpf=True pins our BPF dma-buf iterator at AOSP's path (6.16+ kernels); debugfs=False leaves
    debugfs unmounted (no bufinfo), as on a user build; owners=True then also runs the ownership
    scenario (owners.c) and collects twice: owners1.json + capture.owners1 with both apps running,
    owners2.json + capture.owners2 after one app exited; trace=True then runs trace.sh with the
    lifetime workload (lifetimes.c): trace.out, trace.err, lifetimes.json (where the kernel traces);
    memcg=1 boots with dma_heap.mem_accounting=1 and runs the scenario and the collectors in a
    top-level cgroup v2 "dt" with the memory controller (7.0+ kernels); memcg=2 leaves them in the
    root cgroup."""
    import secrets
    token = token or secrets.token_hex(12)
    kdir = fetch_kernel(kernel)
    work = Path(workdir or (cache_dir() / "work"))
    work.mkdir(parents=True, exist_ok=True)
    scen = build_scenario(work)
    obj = build_bpf(work) if bpf else None
    own = build_owners(work) if owners else None
    life = build_lifetimes(work) if trace else None
    initrd = build_initramfs(kdir, scen, work / "initramfs.cpio", collect_sh, obj, own, life)
    res = run_vm(kdir, initrd, token, shells=shells, vgem=vgem, odd_names=odd_names, workdir=work,
                 bpf=bpf, debugfs=debugfs, owners=owners, trace=trace, memcg=memcg)
    res.files.setdefault("token", token.encode())
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shells", default="busybox,mksh")
    ap.add_argument("--no-vgem", action="store_true")
    ap.add_argument("--odd-names", action="store_true", help="add buffers named with TAB, newline, 31+ chars")
    ap.add_argument("--kernel", choices=KERNELS, default="6.12")
    ap.add_argument("--bpf", action="store_true", help="pin our BPF dma-buf iterator at AOSP's path")
    ap.add_argument("--no-debugfs", action="store_true", help="leave debugfs unmounted (no bufinfo)")
    ap.add_argument("--owners", action="store_true", help="also run the ownership scenario (owners.c)")
    ap.add_argument("--trace", action="store_true", help="also run trace.sh with the lifetime workload")
    ap.add_argument("--memcg", type=int, choices=(0, 1, 2), default=0,
                    help="dma_heap.mem_accounting=1, the scenario in a memory cgroup (1) or the root cgroup (2)")
    ap.add_argument("--save-captures", metavar="DIR", help="write every file the VM sent into DIR")
    ap.add_argument("--collect-sh", metavar="FILE", type=Path,
                    help="collector to put in the VM (default: device_scripts/collect.sh)")
    a = ap.parse_args(argv)
    res = boot(shells=a.shells, vgem=not a.no_vgem, odd_names=a.odd_names, collect_sh=a.collect_sh,
               kernel=a.kernel, bpf=a.bpf, debugfs=not a.no_debugfs, owners=a.owners,
               trace=a.trace, memcg=a.memcg)
    if a.save_captures:
        d = Path(a.save_captures)
        d.mkdir(parents=True, exist_ok=True)
        for k, v in res.files.items():
            (d / k).write_bytes(v)
    print(f"boot+run: {res.seconds:.1f} s, done={res.done}, files: "
          + ", ".join(f"{k}({len(v)} B)" for k, v in res.files.items()))
    for pr in res.problems:
        print("problem:", pr)
    print(res.log)
    return 0 if res.done and not res.problems else 1


if __name__ == "__main__":
    sys.exit(main())
