#!/usr/bin/env python3
"""Collector benchmark: the real collect.sh against a large synthetic device, under Android's
shell (static mksh) with toybox applets only, against a baseline that reads the same files with
`cat` (and lists the same fd directories with `ls -l`, the only way to read links).

    python bench/collector_bench.py [--processes 2000] [--buffers 20000] [--refs 60000]
                                    [--runs 5] [--dir /dev/shm] [--generation a13-5.15]

Prints the tree's size, best-of-N wall times (baseline and collector taking turns), their ratio
(target: at most 2x) and the number of processes the collector spawned (strace -f; target: at
most 15). Exit status 1 if a target is missed, 2 if something could not be measured.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import device_parser, REPO, best_interleaved, large_device  # noqa: E402  (puts the repository on sys.path)

sys.path.insert(0, str(REPO / "tests"))

from collector_support import MKSH_STATIC, SHELLS, TOKEN, applet_dir, run_collector  # noqa: E402
from droidtrack.collect import frames  # noqa: E402
from droidtrack.parse.headout import split_heads  # noqa: E402


def file_set(root: Path, fr: frames.Frames) -> tuple[list[str], list[str]]:
    """The regular files and fd directories the collector read, from its own output."""
    files: set[str] = set()
    for name in ("fdinfo", "smaps", "status", "files"):
        sec = fr.sections.get(name)
        if sec is None:
            continue
        if sec.form == "head":      # v2 fdinfo: files after head's header lines
            for rel, _body in split_heads(sec.content, fr.proc.encode())[0]:
                files.add(f"{fr.root or root}/proc/{rel.decode(errors='surrogateescape')}")
            continue
        for line in sec.content.split(b"\n"):
            path = line.split(b":", 1)[0]
            if name == "smaps" and b"-" in line and not line.startswith(str(root).encode()):
                continue
            p = path.decode(errors="surrogateescape")
            if p.startswith(str(root)) and os.path.isfile(p):
                files.add(p)
    proc = root / "proc"
    pids = [p for p in os.listdir(proc) if p.isdigit()]
    for pid in pids:
        files.add(f"{proc}/{pid}/maps")
        files.add(f"{proc}/{pid}/cmdline")
        files.add(f"{proc}/{pid}/status")
    for extra in ("system/build.prop", "sys/kernel/debug/dma_buf/bufinfo"):
        if (root / extra).exists():
            files.add(str(root / extra))
    fd_dirs = sorted(f"{proc}/{pid}/fd/" for pid in pids)
    return sorted(files), fd_dirs


def main() -> int:
    ap = device_parser(__doc__)
    ap.add_argument("--generation", default="a13-5.15")
    ap.add_argument("--dir", default="/tmp", help="where to write the tree (e.g. /dev/shm for tmpfs)")
    args = ap.parse_args()
    for tool in ("toybox", "strace"):
        if not shutil.which(tool):
            print(f"collector_bench: {tool} is not installed", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="dt-bench-", dir=args.dir))
    work.chmod(0o755)
    try:
        root = work / "root"
        t0 = time.perf_counter()
        tree = large_device(root, processes=args.processes, buffers=args.buffers, refs=args.refs,
                            generation=args.generation, quiet=True)
        gen_s = time.perf_counter() - t0
        tot = tree.truth()["totals"]
        print(f"tree: {tot['processes']} processes, {tot['buffers']} buffers, {tot['dmabuf_fds']} dma-buf fds, "
              f"{tot['dmabuf_maps']} mappings ({args.generation}); written in {gen_s:.1f} s to {args.dir}")

        shell = "mksh-static+toybox"
        traced = run_collector(root, shell, trace=True, writes=False, timeout=600)
        if traced.rc != 0 or not traced.fr.complete:
            print(f"collector_bench: the collector failed (rc {traced.rc}): {traced.stderr[:500]!r}", file=sys.stderr)
            return 2
        bad = {n: s for n, s in traced.statuses().items() if s not in ("ok",)}
        files, fd_dirs = file_set(root, traced.fr)
        print(f"collector read {len(files)} files and {len(fd_dirs)} fd directories; sections not ok: {bad or 'none'}")

        bindir = applet_dir("toybox")
        tmp = work / "tmp"
        tmp.mkdir()
        env = {"PATH": str(bindir)}
        collect = [MKSH_STATIC, str(REPO / "device_scripts/collect.sh"), "--token", TOKEN, "--root", str(root),
                   "--tmp", str(tmp)]
        listf = work / "files.lst"
        listf.write_bytes(b"".join(f.encode("utf-8", "surrogateescape") + b"\0" for f in files))
        dirf = work / "dirs.lst"
        dirf.write_bytes(b"".join(d.encode() + b"\0" for d in fd_dirs))
        # the baseline: the same reads with the plainest tools, under the same shell and applets
        base = [MKSH_STATIC, "-c", f"xargs -0 ls -l < '{dirf}' > /dev/null; xargs -0 cat < '{listf}' > /dev/null"]

        def run_collect():
            subprocess.run(collect, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

        def run_base():
            subprocess.run(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

        run_base(); run_collect()   # warm the page cache
        tb, tc = best_interleaved([run_base, run_collect], args.runs)
        ratio = tc / tb
        print(f"baseline (ls -l fd dirs + cat of the same files): {tb:.3f} s   (best of {args.runs})")
        print(f"collector (mksh + toybox):                         {tc:.3f} s   (best of {args.runs})")
        print(f"ratio: {ratio:.2f}x (target <= 2x)")
        print(f"processes spawned by the collector: {traced.procs} (target <= 15)")
        for other in SHELLS:
            if other == shell:
                continue
            r = run_collector(root, other, trace=True, writes=False, timeout=600)
            print(f"  under {other}: {r.procs} processes, rc {r.rc}")
        return 0 if ratio <= 2.0 and traced.procs is not None and traced.procs <= 15 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
