"""The real collector against synthetic device roots, under every shell a phone or CI offers.

Each test runs device_scripts/collect.sh under mksh (static musl and Debian's) and dash with a
PATH of toybox applets only, and under busybox sh with busybox applets, and checks what every
section says against the files on disk and the tree's truth.
"""
from __future__ import annotations

import re

import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from needs import needs
from collector_support import (COLLECT, MKSH_STATIC, SHELLS, TOKEN, applet_dir, base_dir, copy_tree,
                               fdinfo_files, grep_lines, new_root, run_collector, snapshot_files)
from droidtrack.parse import fdstat
from droidtrack.sim.synth import GENERATIONS, DeviceTree, apply_permissions

pytestmark = needs("mksh", "mksh-static", "dash", "toybox", "busybox")

DMA_MAP_MARKS = (b" /dmabuf", b" anon_inode:dmabuf")


def v1_lines(sec, root) -> bytes:
    """A v2 status or cmdline section (its files, frames.Section.files) as v1's grep printed the
    same files: the Name/Tgid/PPid/Uid lines of status files, cmdline's NUL-ended elements."""
    out = []
    for path, body in sec.files:
        pre = f"{root}{path}:".encode()
        if path.endswith("/status"):
            out += [pre + m + b"\n" for m in re.findall(rb"^(?:Name|Tgid|PPid|Uid):[^\n]*", body, re.M)]
        elif body:
            args = body.split(b"\0")
            if body.endswith(b"\0"):
                args.pop()
            out += [pre + a + b"\0" for a in args]
    return b"".join(out)


@pytest.fixture(params=list(SHELLS))
def shell(request):
    return request.param


def phone(gen: str, **kw) -> DeviceTree:
    """A small phone: allocator, composer, surfaceflinger, a camera app, a codec; buffers held by
    fd, by mapping (whole and a partial window), both, dup'd, and one held by the kernel only."""
    t = DeviceTree(gen, gpu="mali" if gen in ("a9-4.9", "memtrack-rfc") else "kgsl", **kw)
    t.add_process(420, "allocator@4.0-s", cmdline=("/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service",), uid=1000)
    t.add_process(430, "composer@2.4-se", cmdline=("/vendor/bin/hw/android.hardware.graphics.composer@2.4-service",), uid=1000)
    t.add_process(500, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000, oom_score_adj=-1000)
    t.add_process(900, "media.codec", cmdline=("media.codec", "hw/android.hardware.media.omx@1.0-service"), uid=1046)
    t.add_process(2100, "com.android.camera2", cmdline=("com.android.camera2",), uid=10123)
    t.add_process(2200, "launcher", cmdline=("com.android.launcher3",), uid=10045, oom_score_adj=0)
    fb = t.add_buffer(8294400, name="gralloc", allocator=420, attached=("soc:qcom,mdss_mdp",))
    cam = t.add_buffer(1048576, name="CAMERA", allocator=2100)
    anon = t.add_buffer(4096, allocator=900)
    shot = t.add_buffer(3686400, name="G:screenshot")
    t.add_buffer(65536, name="kgsl-ringbuffer", kernel_refs=1)
    t.hold_fd(500, fb); t.hold_fd(430, fb); t.hold_map(500, fb)
    t.hold_fd(2200, fb)
    fd = t.hold_fd(2100, cam); t.hold_fd(2100, cam)            # a dup
    t.hold_map(2100, cam, offset=4096, length=65536, rss=8192)  # a partial window
    t.hold_fd(900, anon)
    t.hold_map(500, shot)                                        # held by mapping only
    t.gpu_usage(2100, 12 << 20, imported=1 << 20)
    assert fd > 2
    return t


def write(t: DeviceTree, name: str) -> Path:
    root = new_root(name)
    t.write(root)
    return root


def file_lines(p: Path) -> list[bytes]:
    data = p.read_bytes()
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


# ---- per-section checks against the files on disk ---------------------------------------------
def check_fdinfo(run, root: Path, truth: dict) -> None:
    expected = set()
    for b in truth["buffers"]:
        for pid, h in b["holders"].items():
            for fd in h["fds"]:
                expected.add(f"{root}/proc/{pid}/fdinfo/{fd}")
    # head prints every file whole, after a header line that names it through the token path
    got = fdinfo_files(run)
    assert set(got) == expected
    for path, body in got.items():
        assert body == Path(path).read_bytes(), path


def check_maps(run, root: Path, truth: dict) -> None:
    expected = []
    for pid in sorted(truth["processes"], key=lambda p: f"{root}/proc/{p}/maps"):
        mp = root / "proc" / pid / "maps"
        for line in file_lines(mp):
            if any(m in line for m in DMA_MAP_MARKS):
                expected.append(f"{mp}:".encode() + line)
    # v2's maps names the files (grep -l); the mappings are the VMA lines of the smaps groups
    names = [l for l in run.sec("maps").content.split(b"\n") if l]
    assert names == list(dict.fromkeys(l.partition(b":")[0] for l in expected))
    got = [m.group(1) + b"maps:" + m.group(2) for m in
           re.finditer(rb"\n(" + re.escape(str(root).encode()) + rb"/proc/[0-9]+/)smaps:([^\n]*)",
                       b"\n" + run.sec("smaps").content)]
    assert got == expected
    nmaps = sum(len(h["maps"]) for b in truth["buffers"] for h in b["holders"].values())
    assert len(got) == nmaps
    # smaps: every dma-buf VMA header with the 5 lines after it (reaching Rss and Pss); the maps
    # section is made of those VMA lines (v2's maps names the files with grep -l)
    sm = run.sec("smaps").content
    for line in got:
        path, _, vma = line.partition(b":")
        spath = path[:-len(b"maps")] + b"smaps"
        lines = file_lines(Path(spath.decode()))
        i = lines.index(vma)
        assert spath + b":" + vma in sm
        for follow in lines[i + 1:i + 6]:
            assert spath + b"-" + follow + b"\n" in sm
        assert any(l.startswith(b"Rss:") for l in lines[i + 1:i + 6])
        assert any(l.startswith(b"Pss:") for l in lines[i + 1:i + 6])


def check_identity(run, root: Path, truth: dict) -> None:
    st = v1_lines(run.sec("status"), root)
    for pid in truth["processes"]:
        sp = root / "proc" / pid / "status"
        for line in file_lines(sp):
            if line.split(b":")[0] in (b"Name", b"Tgid", b"PPid", b"Uid"):
                assert f"{sp}:".encode() + line + b"\n" in st
    assert f"{root}/proc/self/status:Uid:".encode() in st
    recs = v1_lines(run.sec("cmdline"), root).split(b"\0")
    assert recs[-1] == b"\n" or recs[-1] == b""      # the collector's newline after the last record
    got: dict[str, list[bytes]] = {}
    for r in recs[:-1]:
        path, _, arg = r.partition(b":")
        got.setdefault(path.decode(), []).append(arg)
    for pid, p in truth["processes"].items():
        cp = f"{root}/proc/{pid}/cmdline"
        want = [a.encode("utf-8", "surrogateescape") for a in p["cmdline"]]
        assert got.get(cp, []) == want, cp


def check_files(run, root: Path, t: DeviceTree) -> None:
    fc = run.sec("files").content
    lines = set(fc.split(b"\n"))
    must = [root / "proc" / str(pid) / "oom_score_adj" for pid in t.processes]
    must += [root / "proc/sys/kernel/osrelease", root / "proc/version", root / "proc/mounts", root / "proc/meminfo"]
    g = t.g
    if g["sysfs_stats"]:
        for b in t.buffers:
            must += [root / f"sys/kernel/dmabuf/buffers/{b.inode}/size",
                     root / f"sys/kernel/dmabuf/buffers/{b.inode}/exporter_name"]
    if g["ion_sysfs"]:
        must += [root / "sys/kernel/ion/total_heaps_kb", root / "sys/kernel/ion/total_pools_kb"]
    if g["dma_heap"]:
        must.append(root / "sys/kernel/dma_heap/total_pools_kb")
    if g["dmabuf_rss"]:
        for pid in t.processes:
            must += [root / f"proc/{pid}/dmabuf_rss", root / f"proc/{pid}/dmabuf_pss", root / f"proc/{pid}/dmabuf_rss_hwm"]
    if g["memtrack"]:
        must.append(root / "proc/2100/memtrack")
        must.append(root / "sys/kernel/debug/memtrack")
    if g["ion_debugfs"] and g["debugfs"]:
        must.append(root / "sys/kernel/debug/ion/heaps/system")
    if t.gpu == "mali" and g["debugfs"]:
        must.append(root / "sys/kernel/debug/mali0/gpu_memory")
    if t.gpu == "kgsl":
        must.append(root / "sys/class/kgsl/kgsl/proc/2100/user")
    for f in must:
        for line in file_lines(f):
            assert f"{f}:".encode() + line in lines, f
    # SELinux context of the reader (a NUL-terminated file, no newline)
    assert f"{root}/proc/self/attr/current:u:r:su:s0".encode() in fc


# ---- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gen", GENERATIONS)
def test_every_section_matches_the_tree(gen, shell):
    t = phone(gen)
    root = write(t, gen)
    truth = t.truth()
    run = run_collector(root, shell)
    assert run.rc == 0, run.stderr
    assert run.fr.complete and not run.fr.problems
    assert run.fr.root == str(root)
    assert run.leftovers == []
    expect = {s: "ok" for s in ("props", "fdlinks", "maps", "fdinfo", "smaps", "status", "cmdline",
                                "files", "dma_heap_devs", "bufinfo")}
    if not t.g["dma_heap"]:
        expect["dma_heap_devs"] = "missing"
    if not t.g["debugfs"]:
        expect["bufinfo"] = "missing"
    if t.g["bpf_iter"]:
        expect["dmabuf_iter"] = "ok"
    assert run.statuses() == expect
    if t.g["bpf_iter"]:
        assert run.sec("dmabuf_iter").content == (
            root / "sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf").read_bytes()
    for s in run.fr.sections.values():
        assert s.stderr == b"", (s.name, s.stderr)
    assert run.sec("props").content == (root / "system/build.prop").read_bytes()
    if t.g["debugfs"]:
        assert run.sec("bufinfo").content == (root / "sys/kernel/debug/dma_buf/bufinfo").read_bytes()
    else:
        assert run.sec("bufinfo").content == b""
    heaps = run.sec("dma_heap_devs").content.split(b"\n")
    assert [h for h in heaps if h] == sorted(h.encode() for h in t.heaps)
    # fdlinks: a header for every process with an fd directory, every dma-buf link
    fl = run.sec("fdlinks").content.decode()
    for pid, p in t.processes.items():
        assert f"{root}/proc/{pid}/fd:" in fl or f"{root}/proc/{pid}/fd/:" in fl
    for b in truth["buffers"]:
        for pid, h in b["holders"].items():
            for fd in h["fds"]:
                target = "anon_inode:dmabuf" if t.g["links"] == "anon" else "/dmabuf:" + (b["name"] or "")
                assert f" {fd} -> {target}\n" in fl
    if t.g["fdinfo"] != "plain":
        # pre-5.3 fdinfo says nothing about dma-bufs but the collector still reads it
        assert b"exp_name:" in run.sec("fdinfo").content
    check_fdinfo(run, root, truth)
    check_maps(run, root, truth)
    check_identity(run, root, truth)
    check_files(run, root, t)


HOSTILE = [
    "tab\there",
    "nl\nsecond line",
    "[bold red]markup[/]",
    "\x1b[31mESC\x1b[0m",
    "back\\slash\\n\\c\\0101",
    "-n -e",
    "a -> /dmabuf:b",
]


def test_hostile_names_pass_through_byte_for_byte(shell):
    t = DeviceTree("a13-5.15", escape_names=False)
    root = new_root("hostile")
    root_pid = 700
    bufs = []
    for i, name in enumerate(HOSTILE):
        pid = root_pid + i
        t.add_process(pid, name[:15], cmdline=(name, "--arg=" + name, ""), uid=10000 + i)
        b = t.add_buffer(4096 * (i + 1), name=name[:31])
        t.hold_fd(pid, b)
        t.hold_map(pid, b)
        bufs.append(b)
    # names that spell a directory header: of the next process, and of a process listed earlier
    forged = t.add_buffer(8192, name=f"x\n\n{root}/proc/{root_pid + 1}/fd:\ntotal 0")
    far = t.add_buffer(8192, name=f"y\n\n{root}/proc/1/fd:\ntotal 0")
    t.hold_fd(root_pid, forged)
    t.hold_fd(root_pid + 3, far)
    t.hold_fd(root_pid + 3, bufs[0])       # a link after the fake header, in the same process
    t.write(root)
    truth = t.truth()
    run = run_collector(root, shell)
    assert run.rc == 0 and run.fr.complete and not run.fr.problems
    # fdinfo: every dma-buf fd of the tree, each file byte for byte. The names that spell a
    # directory header do not move a link: the headers the collector reads name the token path.
    expected = {f"{root}/proc/{pid}/fdinfo/{fd}" for b in truth["buffers"] for pid, h in b["holders"].items()
                for fd in h["fds"]}
    assert len(expected) == len(HOSTILE) + 3
    got = fdinfo_files(run)
    assert set(got) == expected
    for path in expected:
        assert got[path] == Path(path).read_bytes(), path
    sec = run.sec("fdinfo")
    assert sec.status == "ok" and sec.stderr == b""
    # a name can spell head's header line too: it stays in its file
    assert any(b"\n==> " in body or b"\n\n" in body for body in got.values())
    # status and cmdline: unchanged bytes (no echo interpreted a backslash, no -n/-e lost)
    st = v1_lines(run.sec("status"), root)
    cl = v1_lines(run.sec("cmdline"), root)
    for i, name in enumerate(HOSTILE):
        pid = root_pid + i
        # grep keeps the Name: line; the tail of a raw newline (kernels escape it) is not Name:
        shown = name[:15].split("\n")[0]
        assert f"{root}/proc/{pid}/status:Name:\t{shown}\n".encode() in st
        for arg in (name, "--arg=" + name):
            assert f"{root}/proc/{pid}/cmdline:{arg}\0".encode() in cl
        assert f"{root}/proc/{pid}/cmdline:\0".encode() in cl
        mp = (root / "proc" / str(pid) / "maps").read_bytes()
        dm = [l for l in mp.split(b"\n") if b" /dmabuf" in l][0]
        assert f"{root}/proc/{pid}/smaps:".encode() + dm in run.sec("smaps").content     # (v2: maps names files)
    # bufinfo holds every name as the kernel printed it
    assert run.sec("bufinfo").content == (root / "sys/kernel/debug/dma_buf/bufinfo").read_bytes()


def test_processes_vanishing_mid_scan(shell):
    """fd links whose fdinfo is gone, maps whose smaps is gone, a pid directory half removed."""
    t = phone("a13-5.15")
    root = write(t, "vanish")
    truth = t.truth()
    # 2100's dma-buf fds went away between ls and grep; 500 exited after maps was read
    for fd in next(b for b in truth["buffers"] if b["name"] == "CAMERA")["holders"]["2100"]["fds"]:
        (root / f"proc/2100/fdinfo/{fd}").unlink()
    (root / "proc/500/smaps").unlink()
    (root / "proc/900/status").unlink()
    run = run_collector(root, shell)
    assert run.rc == 0 and run.fr.complete
    fdi = run.sec("fdinfo")
    assert fdi.status == "partial"
    err = fdi.stderr.decode()
    assert "/proc/2100/fdinfo/" in err and "No such file or directory" in err
    assert any(p.startswith(f"{root}/proc/500/fdinfo/") for p in fdinfo_files(run))
    sm = run.sec("smaps")
    assert sm.status == "partial"
    assert f"{root}/proc/500/smaps" in sm.stderr.decode()
    assert f"{root}/proc/2100/smaps:".encode() in sm.content
    # status of a vanished process: the glob no longer sees it, nothing is reported missing
    assert run.sec("status").status == "ok"
    # every fdinfo of a process vanished: the section is "missing", not an error
    t2 = phone("a13-5.15")
    root2 = write(t2, "vanish2")
    for p in root2.glob("proc/*/fdinfo/*"):
        p.unlink()
    for p in root2.glob("proc/*/smaps"):
        p.unlink()
    run = run_collector(root2, shell)
    assert run.sec("fdinfo").status == "missing"
    assert run.sec("smaps").status == "missing"
    assert run.fr.complete and run.rc == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to uid 2000")
def test_shell_user_meets_permission_errors(shell):
    """The collector as uid 2000 (adb shell) on a tree where other apps' fds and maps, debugfs
    and the sysfs stats are closed to it."""
    t = phone("a13-5.15", shell_uid=2000)
    t.add_process(3000, "sh", cmdline=("/system/bin/sh", "-"), uid=2000, ppid=1)
    b = t.add_buffer(4096, name="shell-own")
    t.hold_fd(3000, b)
    for pid, p in t.processes.items():
        if p.uid != 2000 and not p.kernel_thread:
            t.deny(pid, "fd")
    t.deny_path("sys/kernel/debug")
    t.deny_path("sys/kernel/dmabuf/buffers")
    root = write(t, "perm")
    changed = apply_permissions(root)
    assert "proc/500/fd" in changed and "sys/kernel/debug" in changed
    run = run_collector(root, shell, uid=2000, trace=True)
    assert run.rc == 0 and run.fr.complete, run.stderr
    st = run.statuses()
    assert st["fdlinks"] == "partial"
    assert "Permission denied" in run.sec("fdlinks").stderr.decode()
    # the readable fd directories (kernel threads, the shell's own) were listed; the shell's
    # own dma-buf fd was read
    assert st["fdinfo"] == "ok"
    assert [p.rsplit("/", 1)[0] for p in fdinfo_files(run)] == [f"{root}/proc/3000/fdinfo"]
    assert st["maps"] == "partial" and f"{root}/proc/500/maps" in run.sec("maps").stderr.decode()
    assert st["bufinfo"] == "denied"
    assert st["files"] == "partial" and "dmabuf/buffers" in run.sec("files").stderr.decode()
    assert st["status"] == "ok" and st["cmdline"] == "ok"
    assert f"{root}/proc/self/status:Uid:\t2000".encode() in v1_lines(run.sec("status"), root)
    assert run.leftovers == []
    assert run.procs is not None and run.procs <= 22


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to uid 2000")
def test_everything_denied(shell):
    t = phone("a11-5.4")
    for pid, p in t.processes.items():
        t.deny(pid, "all")
    t.deny_path("sys/kernel/debug", 0o000)
    root = write(t, "alldenied")
    apply_permissions(root)
    run = run_collector(root, shell, uid=2000)
    assert run.rc == 0 and run.fr.complete
    st = run.statuses()
    assert st["fdlinks"] == "denied" and st["fdinfo"] == "denied"
    assert st["maps"] == "denied" and st["smaps"] == "denied"
    assert st["cmdline"] == "denied"
    # only the collector's own status could be read
    assert st["status"] == "partial"
    assert {p for p, _ in grep_lines(v1_lines(run.sec("status"), root))} == {f"{root}/proc/self/status"}
    assert st["bufinfo"] == "denied"
    assert run.sec("fdinfo").content == b""


def test_missing_debugfs_and_empty_proc(shell, tmp_path):
    t = phone("a15-6.6")
    root = write(t, "a15")
    run = run_collector(root, shell)
    assert run.sec("bufinfo").status == "missing"
    assert run.sec("files").status == "ok"
    assert b"/dmabuf_rss:" in run.sec("files").content
    # a root with an empty /proc and nothing else
    empty = Path(tempfile.mkdtemp(dir=base_dir())) / "root"
    (empty / "proc").mkdir(parents=True)
    os.chmod(empty.parent, 0o755)
    run = run_collector(empty, shell)
    assert run.rc == 0 and run.fr.complete and not run.fr.problems
    assert run.statuses() == {s: "missing" for s in ("props", "fdlinks", "maps", "fdinfo", "smaps", "status",
                                                     "cmdline", "files", "dma_heap_devs", "bufinfo")}
    assert run.leftovers == []


@pytest.mark.parametrize("rootname", ["with space", "quote's \"and\" tab\there", "star*[x]?"])
def test_odd_root_paths(shell, rootname):
    t = phone("a13-5.15")
    base = Path(tempfile.mkdtemp(dir=base_dir()))
    os.chmod(base, 0o755)
    root = base / rootname / "root"
    t.write(root)
    os.chmod(root.parent, 0o755)
    run = run_collector(root, shell)
    assert run.rc == 0 and run.fr.complete and run.fr.root == str(root)
    assert all(s == "ok" for s in run.statuses().values()), run.statuses()
    check_fdinfo(run, root, t.truth())
    check_maps(run, root, t.truth())


def test_one_process_only(shell):
    """ls prints no header for a lone directory: the collector names an empty file too."""
    t = DeviceTree("a13-5.15", base=False)
    t.add_process(4242, "only", cmdline=("only",), uid=1000)
    b = t.add_buffer(8192, name="solo")
    t.hold_fd(4242, b); t.hold_fd(4242, b)
    root = write(t, "one")
    run = run_collector(root, shell)
    assert run.statuses()["fdlinks"] == "ok"
    fl = run.sec("fdlinks").content.decode()
    assert fl.startswith(f"{root}/proc/4242/fd")     # the empty file's line is not shown
    assert fl.count(f"{root}/proc/4242/fd") == 1
    assert sorted(fdinfo_files(run)) == [f"{root}/proc/4242/fdinfo/6", f"{root}/proc/4242/fdinfo/7"]


def test_arguments_and_tmp(shell, tmp_path):
    t = phone("a13-5.15")
    root = write(t, "args")
    def raw(*args, tmp=None):
        argv0, provider = SHELLS[shell]
        cmd = [*argv0, str(COLLECT), *args]
        if tmp:
            cmd += ["--tmp", str(tmp)]
        return subprocess.run(cmd, capture_output=True, env={"PATH": str(applet_dir(provider))})
    assert raw("--token", "bad token!", "--root", str(root), tmp=tmp_path).returncode == 64
    assert raw("--root", str(root), tmp=tmp_path).returncode == 64
    assert raw("--token", "abc", "--bogus", tmp=tmp_path).returncode == 64
    assert raw("--token", "abc", "--root", "/x\\y", tmp=tmp_path).returncode == 64
    p = raw("--token", "abc", "--root", str(root), tmp=tmp_path / "does-not-exist")
    assert p.returncode == 65 and p.stdout == b""
    # a trailing slash on the root is dropped; the header carries the root as given otherwise
    run = run_collector(str(root) + "/", shell)
    assert run.fr.root == str(root) and run.rc == 0


def test_cut_by_a_signal_leaves_nothing_behind(shell, tmp_path):
    """A shell killed mid-stream (adb unplugged) removes its temporary files."""
    t = phone("a13-5.15")
    root = write(t, "sig")
    shim = Path(tempfile.mkdtemp(dir=base_dir()))
    os.chmod(shim, 0o755)
    argv0, provider = SHELLS[shell]
    # a slow dumpsys: the collector is killed while it waits for it
    (shim / "dumpsys").write_text(f"#!{MKSH_STATIC}\nsleep 2\n")
    os.chmod(shim / "dumpsys", 0o755)
    tmp = Path(tempfile.mkdtemp(dir=base_dir()))
    env = {"PATH": f"{shim}:{applet_dir(provider)}"}
    p = subprocess.Popen([*argv0, str(COLLECT), "--token", TOKEN, "--root", str(root), "--tmp", str(tmp), "--dumpsys"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = b""
    deadline = time.time() + 20
    while b"BEGIN dumpsys_meminfo" not in out and time.time() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    assert os.listdir(tmp), "the collector holds its temporary files while it runs"
    p.terminate()
    p.communicate(timeout=20)
    assert p.returncode != 0
    assert os.listdir(tmp) == []


def test_never_writes_outside_tmp(shell):
    t = phone("a9-4.9")
    root = write(t, "ro")
    before = snapshot_files(root)
    tmp = Path(tempfile.mkdtemp(dir=base_dir()))
    run = run_collector(root, shell, tmp=tmp, trace=True)
    assert run.rc == 0
    assert snapshot_files(root) == before
    assert run.leftovers == []
    assert run.writes, "strace should have seen the temporary files"
    # /dev/tty: Debian's dynamic mksh opens it at startup (job control), before the script runs
    outside = [w for w in run.writes if not w.startswith(str(tmp) + "/") and w not in ("/dev/null", "/dev/tty")]
    assert outside == []


@pytest.mark.parametrize("gen", GENERATIONS)
def test_committed_fixtures(gen, shell):
    """The committed phone fixtures: everything read as root; the a15-6.6 one as the shell user
    with its permissions.txt applied to a copy."""
    src = Path(__file__).resolve().parent.parent / "fixtures" / gen
    truth = json.loads((src / "truth.json").read_text())
    root = copy_tree(src, f"fx-{gen}")
    if gen != "a15-6.6":
        run = run_collector(root, shell)
        assert run.rc == 0 and run.fr.complete and not run.fr.problems
        assert all(s in ("ok", "missing") for s in run.statuses().values()), run.statuses()
        check_fdinfo(run, root, truth)
        check_maps(run, root, truth)
        check_identity(run, root, truth)
        return
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 2000")
    apply_permissions(root)
    run = run_collector(root, shell, uid=2000)
    assert run.rc == 0 and run.fr.complete
    st = run.statuses()
    assert st["fdlinks"] == "partial" and st["maps"] == "partial" and st["files"] == "partial"
    assert st["bufinfo"] == "missing" and st["status"] == "ok" and st["cmdline"] == "ok"
    # the only dma-buf fd the shell can see is its own screenrecord's
    shell_pids = {pid for pid, p in truth["processes"].items() if p["uid"] == 2000}
    assert {p.split("/proc/")[1].split("/")[0] for p in fdinfo_files(run)} == shell_pids
    assert b"/dmabuf_rss:" in run.sec("files").content


def test_fd_inodes_option(shell, tmp_path):
    """--fd-inodes: `always` stats every fd of every process (`ls -i -L -n`; the fd links of this
    a11 tree are re-pointed at files of their own so that -L reaches something), `auto` never runs
    under --root (a pulled tree's links point nowhere), `never` never; other values are refused.
    The probe `auto` makes on a device is checked against a real kernel in test_realkernel.py."""
    t = phone("a11-5.4")
    root = write(t, "fdstat")
    objs = root / "objs"
    objs.mkdir()
    want = {}
    for fdp in root.glob("proc/[0-9]*/fd/[0-9]*"):
        pid, fd = int(fdp.parent.parent.name), int(fdp.name)
        target = objs / f"{pid}-{fd}"
        target.write_bytes(b"x" * (fd + 1))
        fdp.unlink()
        fdp.symlink_to(target)
        want[(pid, fd)] = (target.stat().st_ino, fd + 1)
    assert len(want) > 10
    run = run_collector(root, shell, args=("--fd-inodes", "always"), trace=True, writes=False)
    assert run.rc == 0 and run.fr.complete
    sec = run.sec("fdstat")
    res = fdstat.parse(sec.text(), str(root))
    assert {(r.pid, r.fd): (r.inode, r.size) for r in res.records} == want
    assert res.problems == [] and sec.status == "ok"
    assert run.procs is not None and run.procs <= 15
    for mode in ("auto", "never"):
        assert "fdstat" not in run_collector(root, shell, args=("--fd-inodes", mode)).fr.sections
    argv0, provider = SHELLS[shell]
    p = subprocess.run([*argv0, str(COLLECT), "--token", "abc", "--root", str(root), "--tmp", str(tmp_path),
                        "--fd-inodes", "sometimes"], capture_output=True, env={"PATH": str(applet_dir(provider))})
    assert p.returncode == 64 and b"--fd-inodes" in p.stderr
