"""Run the real collector (device_scripts/collect.sh) the way a phone would, for the collector
tests and the benchmark: Android's mksh (static musl build and Debian's /bin/mksh) with a PATH
holding toybox applets only, dash with the same applets, and busybox sh with busybox applets.
"""
from __future__ import annotations

import atexit
import os
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from droidtrack.collect import collector, frames
from droidtrack.parse.headout import split_heads
from droidtrack.sim.synth import DeviceTree

REPO = Path(__file__).resolve().parent.parent
COLLECT = REPO / "device_scripts" / "collect.sh"
TOKEN = "T0k3nXyZ"
MKSH_STATIC = "/usr/lib/x86_64-linux-musl/bin/mksh"

# name -> (argv prefix, applet provider)
SHELLS = {
    "mksh-static+toybox": ([MKSH_STATIC], "toybox"),
    "mksh+toybox": (["/bin/mksh"], "toybox"),
    "dash+toybox": (["/usr/bin/dash"], "toybox"),
    "busybox": (["/usr/bin/busybox", "sh"], "busybox"),
}
# what each needs (tests/conftest.py TOOLS): a test under a missing shell is skipped, naming the package
SHELL_TOOLS = {
    "mksh-static+toybox": ("mksh-static", "toybox"),
    "mksh+toybox": ("mksh", "toybox"),
    "dash+toybox": ("dash", "toybox"),
    "busybox": ("busybox",),
}
_APPLETS: dict[str, Path] = {}
_BASE: Path | None = None


def base_dir() -> Path:
    """A world-traversable scratch directory (pytest's own is 0700, closed to uid 2000)."""
    global _BASE
    if _BASE is None or not _BASE.exists():
        _BASE = Path(tempfile.mkdtemp(prefix="dt-collector-", dir="/tmp"))
        _BASE.chmod(0o755)
        atexit.register(shutil.rmtree, _BASE, True)
    return _BASE


def collector_copy() -> Path:
    """collect.sh copied below base_dir(): a checkout under a private (0700) directory is closed
    to the unprivileged uids the tests run the collector as."""
    dst = base_dir() / "collect.sh"
    if not dst.exists() or dst.read_bytes() != COLLECT.read_bytes():
        tmp = dst.with_name(f".collect.sh.{os.getpid()}")
        shutil.copyfile(COLLECT, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, dst)
    return dst


def applet_dir(provider: str) -> Path:
    """A directory of symlinks to every applet of toybox or busybox, and nothing else."""
    d = _APPLETS.get(provider)
    if d is not None and d.exists():
        return d
    d = base_dir() / f"bin-{provider}"
    d.mkdir(exist_ok=True)
    binary = shutil.which(provider) or f"/usr/bin/{provider}"
    if provider == "toybox":
        names = subprocess.run([binary], capture_output=True, text=True, check=True).stdout.split()
    else:
        names = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in names:
        if a == "sh" and provider == "toybox":
            continue
        p = d / a
        if not p.is_symlink():
            p.symlink_to(binary)
    _APPLETS[provider] = d
    return d


@dataclass
class Run:
    rc: int
    stdout: bytes
    stderr: bytes
    fr: frames.Frames
    procs: int | None = None                  # processes spawned by the collector (strace)
    writes: list[str] = field(default_factory=list)  # paths opened for writing / created / removed
    leftovers: list[str] = field(default_factory=list)

    def sec(self, name: str) -> frames.Section:
        s = self.fr.sections.get(name)
        assert s is not None, f"section {name} missing; have {list(self.fr.sections)}"
        return s

    def statuses(self) -> dict[str, str]:
        return {n: s.status for n, s in self.fr.sections.items()}


# (a symbolic link is written where its second path names, not at its target)
_WRITE_RE = re.compile(r'^(\d+)\s+(?:openat\(AT_FDCWD, "((?:[^"\\]|\\.)*)", ([^,)]*)|'
                       r'(?:unlink|unlinkat|rename|renameat2?|mkdir|mkdirat|rmdir|creat|link|truncate)'
                       r'\((?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)"|'
                       r'symlink(?:at)?\("(?:[^"\\]|\\.)*", (?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)")')


def run_collector(root: Path | str | None, shell: str, *, tmp: Path | None = None, args: tuple[str, ...] = (),
                  uid: int | None = None, trace: bool = False, writes: bool = True,
                  extra_path: Path | None = None,
                  timeout: float = 120) -> Run:
    """Run collect.sh against a device root under `shell` (a SHELLS key). trace=True counts the
    processes it spawns (strace -f) and, with writes=True, records every path it writes."""
    from needs import needs
    needs.skip_unless(*SHELL_TOOLS[shell], *(("setpriv",) if uid is not None else ()),
                      *(("strace",) if trace else ()))
    argv0, provider = SHELLS[shell]
    bindir = applet_dir(provider)
    path = str(bindir) if extra_path is None else f"{extra_path}:{bindir}"
    if tmp is None:
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=base_dir()))
    tmp.chmod(0o777)
    cmd = [*argv0, str(collector_copy()), "--token", TOKEN, "--tmp", str(tmp), *args]
    if root is not None:
        cmd[len(argv0) + 1:len(argv0) + 1] = ["--root", str(root)]
    if uid is not None:
        cmd = [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd]
    trace_file = None
    if trace:
        trace_file = Path(tempfile.mkstemp(prefix="strace-", dir="/tmp")[1])
        calls = "execve,vfork,fork,clone,clone3"
        if writes:
            calls += ",openat,creat,unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,rmdir,symlink,symlinkat,link,linkat,truncate"
        cmd = [shutil.which("strace") or "/usr/bin/strace", "-f", "-qq", "--seccomp-bpf", "-s", "4096", "-o", str(trace_file),
               "-e", f"trace={calls}", *cmd]
    env = {"PATH": path}
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout)
    run = Run(p.returncode, p.stdout, p.stderr, frames.decode(p.stdout, TOKEN))
    run.leftovers = sorted(os.listdir(tmp))
    if trace_file is not None:
        text = trace_file.read_text(errors="replace")
        trace_file.unlink()
        pids = {line.split(None, 1)[0] for line in text.splitlines() if line[:1].isdigit()}
        # every pid but the first (setpriv/strace's child, which becomes the shell by exec)
        run.procs = len(pids) - 1
        for line in text.splitlines():
            m = _WRITE_RE.match(line)
            if not m:
                continue
            if m.group(2) is not None:
                flags = m.group(3)
                if any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")):
                    run.writes.append(m.group(2))
            elif m.group(4) is not None:
                run.writes.append(m.group(4))
            elif m.group(5) is not None:
                run.writes.append(m.group(5))
    return run


def new_root(name: str) -> Path:
    """A path for a device root below a directory every uid can traverse (not created)."""
    d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base_dir()))
    d.chmod(0o755)
    return d / "root"


def copy_tree(src: Path, name: str) -> Path:
    """Copy a device root (symlinks kept) below the world-traversable scratch directory."""
    dst = new_root(name)
    shutil.copytree(src, dst, symlinks=True)
    for d, dirs, _files in os.walk(dst):
        os.chmod(d, 0o755)
    return dst


def snapshot_files(root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (mode, size, mtime_ns) of every entry below root (symlinks not followed)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def grep_lines(content: bytes) -> list[tuple[str, bytes]]:
    """Split `grep -H` output into (path, line) using the ':' after the path (paths in the tests
    hold no ':')."""
    out = []
    for line in content.split(b"\n"):
        if not line:
            continue
        path, sep, rest = line.partition(b":")
        if sep:
            out.append((path.decode(), rest))
    return out


def fdinfo_files(run: Run) -> dict[str, bytes]:
    """The fdinfo section of a v2 stream (head's output): device path with the root -> the
    file's bytes, each read once."""
    sec = run.sec("fdinfo")
    assert sec.form == "head"
    files, probs = split_heads(sec.content, run.fr.proc.encode())
    assert probs == [], probs
    out: dict[str, bytes] = {}
    for rel, body in files:
        path = f"{run.fr.root}/proc/{rel.decode('utf-8', 'surrogateescape')}"
        assert path not in out, f"{path} read twice"
        out[path] = body
    return out


def random_phone(generation: str, seed: int, names: list, *, processes: int, buffers: int, refs: int,
                 sizes: tuple[int, ...] = (4096, 8192, 1 << 20), comms: list[str] | None = None,
                 exporters: tuple[str, ...] = ("system",)) -> DeviceTree:
    """A seeded small phone for the fast-against-slow tests: `processes` apps (comm `app<k>`, or a
    random pick of `comms` + k), `buffers` buffers of random sizes, exporters and names, and `refs`
    random references (60 % by fd, the rest mapped)."""
    rnd = random.Random(seed)
    t = DeviceTree(generation, seed=seed)
    pids = []
    for k in range(processes):
        pid = 1000 + 7 * k
        comm = rnd.choice(comms) + str(k) if comms else f"app{k}"
        t.add_process(pid, comm, (f"com.example.app{k}",), uid=10000 + k, ppid=1)
        pids.append(pid)
    bufs = [t.add_buffer(rnd.choice(sizes), rnd.choice(exporters) if len(exporters) > 1 else exporters[0],
                         rnd.choice(names)) for _ in range(buffers)]
    for _ in range(refs):
        b, pid = rnd.choice(bufs), rnd.choice(pids)
        if rnd.random() < 0.6:
            t.hold_fd(pid, b)
        else:
            t.hold_map(pid, b, rss=rnd.choice((0, 4096)))
    return t


def collected(tree: DeviceTree, root: Path, token: str) -> bytes:
    """`tree` written to `root` and read by the collector under the host's sh: its stream."""
    tree.write(root)
    out, err, rc = collector.run_local(root, token)
    assert rc == 0, err[-2000:]
    return out


def head_output(files: list[tuple[str, bytes]], runs: list[int] | None = None, *, link: str) -> bytes:
    """What `head -n N LINK.e F1 F2 …` prints for these (path below the link, content) files, run by
    run in runs of the given sizes (xargs may start head more than once)."""
    runs = runs or [len(files)]
    out = b""
    i = 0
    for n in runs:
        named = [(f"{link}.e", b"")] + [(f"{link}/{p}", c) for p, c in files[i:i + n]]
        for k, (name, content) in enumerate(named):
            out += (b"\n" if k else b"") + f"==> {name} <==\n".encode() + content
        i += n
    return out
