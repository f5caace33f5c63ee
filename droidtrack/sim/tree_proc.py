"""The /proc part of a synthetic device tree: per-process status, fds, fdinfo, maps, smaps,
dma-buf RSS/PSS files and memtrack, printed as the tree's kernel generation prints them."""
from __future__ import annotations

import os

from droidtrack.sim.tree_model import ANON_INODE, SynthBuffer, SynthProcess


def _esc_status(name: str) -> str:
    # fs/proc/array.c: a backslash doubles, a newline becomes "\n"; other bytes as they are
    return name.replace("\\", "\\\\").replace("\n", "\\n")


def _esc_path(path: str) -> str:
    # seq_file_path(m, file, "\n"): a newline in a path is printed as \012
    return path.replace("\n", "\\012")


def _kb(n: int) -> int:
    return n // 1024



class ProcParts:
    """Mixed into tree_writer.TreeWriter (which provides t, g, root, keep, holders, counts, nmaps, _w)."""

    def proc(self) -> None:
        P = str(self.root / "proc")
        os.mkdir(P)
        for p in self.t.processes.values():
            self.process(P, p)
        # the reader's own view: uid of the collector and its SELinux context
        os.makedirs(f"{P}/self/attr")
        u = self.t.shell_uid
        self._w(f"{P}/self/status", f"Name:\tsh\nUmask:\t0077\nState:\tR (running)\nTgid:\t{32000}\n"
                f"Ngid:\t0\nPid:\t32000\nPPid:\t31999\nTracerPid:\t0\nUid:\t{u}\t{u}\t{u}\t{u}\n"
                f"Gid:\t{u}\t{u}\t{u}\t{u}\n")
        self._w(f"{P}/self/attr/current", ("u:r:su:s0" if u == 0 else "u:r:shell:s0") + "\0")
        os.makedirs(f"{P}/sys/kernel")
        self._w(f"{P}/sys/kernel/osrelease", self.g["kernel"] + "\n")
        self._w(f"{P}/version", f"Linux version {self.g['kernel']} (build@droidtrack) "
                "(Android clang version 14.0.6) #1 SMP PREEMPT Tue Jan 1 00:00:00 UTC 2030\n")
        total = 7698860
        self._w(f"{P}/meminfo", f"MemTotal:       {total} kB\nMemFree:          512344 kB\n"
                "MemAvailable:    3302120 kB\nBuffers:            4096 kB\nCached:          2811024 kB\n")
        mounts = ["/dev/root / ext4 ro,seclabel,relatime 0 0", "proc /proc proc rw,relatime 0 0",
                  "sysfs /sys sysfs rw,seclabel,relatime 0 0"]
        if self.g["debugfs"]:
            mounts.append("debugfs /sys/kernel/debug debugfs rw,seclabel,relatime 0 0")
        self._w(f"{P}/mounts", "\n".join(mounts) + "\n")

    def process(self, P: str, p: SynthProcess) -> None:
        d = f"{P}/{p.pid}"
        os.mkdir(d)
        w = self._w
        name = p.name[:15]
        shown = _esc_status(name) if self.t.escape_names else name
        u = p.uid
        threads = 1 if p.kernel_thread else 4 + p.pid % 13
        vm = "" if p.kernel_thread else (f"VmPeak:\t{1000000 + p.pid % 999} kB\nVmSize:\t{900000 + p.pid % 777} kB\n"
                                        f"VmRSS:\t{20000 + (p.pid * 37) % 90000} kB\n")
        w(f"{d}/status", f"Name:\t{shown}\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{p.pid}\nNgid:\t0\n"
          f"Pid:\t{p.pid}\nPPid:\t{p.ppid}\nTracerPid:\t0\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{u}\t{u}\t{u}\t{u}\n"
          f"FDSize:\t{64 if len(p.fds) < 64 else 1 << (len(p.fds) - 1).bit_length()}\nGroups:\t{'' if u == 0 else '3003 9997'}\n"
          f"{vm}Threads:\t{threads}\nvoluntary_ctxt_switches:\t{p.pid * 7}\n")
        w(f"{d}/comm", name + "\n")
        w(f"{d}/cmdline", "".join(a + "\0" for a in p.cmdline))
        w(f"{d}/oom_score_adj", f"{p.oom_score_adj}\n")
        os.mkdir(f"{d}/fd")
        os.mkdir(f"{d}/fdinfo")
        g = self.g
        for fd, t in p.fds.items():
            if isinstance(t, SynthBuffer):
                if g["links"] == "anon":
                    target = "anon_inode:dmabuf"
                else:
                    target = "/dmabuf:" + (t.name or "")
                os.symlink(target, f"{d}/fd/{fd}")
                w(f"{d}/fdinfo/{fd}", self.fdinfo(t))
            else:
                os.symlink(t, f"{d}/fd/{fd}")
                ino = f"ino:\t{1000 + fd}\n" if g["fdinfo"] == "ino" else ""
                w(f"{d}/fdinfo/{fd}", f"pos:\t0\nflags:\t0{2000002 if fd > 2 else 2}\nmnt_id:\t{13 if fd > 2 else 21}\n{ino}")
        if self.keep and not p.fds:
            w(f"{d}/fd/.keep", "")
            w(f"{d}/fdinfo/.keep", "")
        maps, smaps = self.maps(p)
        w(f"{d}/maps", maps)
        w(f"{d}/smaps", smaps)
        if g["dmabuf_rss"]:
            rss = pss = 0
            seen = set()
            for t in list(p.fds.values()) + [b for b, _ in p.maps]:
                if isinstance(t, SynthBuffer) and t.inode not in seen:
                    seen.add(t.inode)
                    rss += t.size
                    pss += t.size // len(self.holders[t.inode])
            w(f"{d}/dmabuf_rss", f"{rss}\n")
            w(f"{d}/dmabuf_rss_hwm", f"{rss}\n")
            w(f"{d}/dmabuf_pss", f"{pss}\n")
        if g["memtrack"]:
            w(f"{d}/memtrack", self.memtrack(p))

    def fdinfo(self, b: SynthBuffer) -> str:
        g = self.g
        head = f"pos:\t0\nflags:\t0{2000002}\nmnt_id:\t{11 if g['links'] == 'anon' else 9}\n"
        if g["fdinfo"] == "plain":
            return head
        if g["fdinfo"] == "ino":
            head += f"ino:\t{b.inode}\n"
        text = f"{head}size:\t{b.size}\ncount:\t{self.counts[b.inode]}\nexp_name:\t{b.exporter}\n"
        if b.name:
            text += f"name:\t{b.name}\n"
        return text

    def _vma_head(self, start: int, end: int, perms: str, off: int, dev: str, ino: int, path: str) -> str:
        head = f"{start:08x}-{end:08x} {perms} {off:08x} {dev} {ino} "
        if not path:
            return head
        return head.ljust(72) + " " + (_esc_path(path) if self.t.escape_names else path)

    def maps(self, p: SynthProcess) -> tuple[str, str]:
        if p.kernel_thread:
            return "", ""
        vmas: list[tuple[int, int, str, int, str, int, str, int, int]] = []
        base = 0x5c00000000 + (p.pid % 4096) * 0x100000
        exe = p.cmdline[0] if p.cmdline and p.cmdline[0].startswith("/") else "/system/bin/app_process64"
        vmas.append((base, base + 0x4000, "r-xp", 0, "fd:00", 1201 + p.pid % 50, exe, 16, 16))
        vmas.append((0x7f80000000, 0x7f80100000, "r-xp", 0, "fd:00", 1133, "/apex/com.android.runtime/lib64/bionic/libc.so", 1024, 700))
        vmas.append((0x7f90000000, 0x7f90400000, "rw-p", 0, "00:00", 0, "[anon:scudo:primary]", 4096, 900))
        vmas.append((0x7ffff00000, 0x7ffff21000, "rw-p", 0, "00:00", 0, "[stack]", 132, 40))
        anon = self.g["links"] == "anon"
        dev = "00:0a" if anon else "00:08"
        for b, m in p.maps:
            path = "anon_inode:dmabuf" if anon else "/dmabuf:" + (b.name or "")
            vmas.append((m.start, m.end, m.perms, m.offset, dev, ANON_INODE if anon else b.inode, path,
                         _kb(m.rss), _kb(m.rss // self.nmaps[b.inode])))
        vmas.sort()
        maps = []
        smaps = []
        style = self.g["smaps"]
        for start, end, perms, off, dv, ino, path, rss_kb, pss_kb in vmas:
            h = self._vma_head(start, end, perms, off, dv, ino, path)
            maps.append(h)
            size_kb = (end - start) // 1024
            shared = perms.endswith("s")
            f = {"Size": size_kb, "KernelPageSize": 4, "MMUPageSize": 4, "Rss": rss_kb, "Pss": pss_kb,
                 "Pss_Dirty": 0, "Shared_Clean": rss_kb if shared else 0, "Shared_Dirty": 0,
                 "Private_Clean": 0 if shared else rss_kb, "Private_Dirty": 0, "Referenced": rss_kb,
                 "Anonymous": 0 if shared or path.startswith("/") else rss_kb, "LazyFree": 0,
                 "AnonHugePages": 0, "ShmemPmdMapped": 0, "FilePmdMapped": 0, "Shared_Hugetlb": 0,
                 "Private_Hugetlb": 0, "Swap": 0, "SwapPss": 0, "Locked": 0}
            if style == "4.9":
                order = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                         "Private_Dirty", "Referenced", "Anonymous", "AnonHugePages", "ShmemPmdMapped",
                         "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "KernelPageSize",
                         "MMUPageSize", "Locked")
            else:
                order = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss") + (
                    ("Pss_Dirty",) if style == "6" else ()) + (
                    "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced",
                    "Anonymous", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
                    "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked")
            body = "".join(f"{k + ':':<16}{f[k]:>8} kB\n" for k in order)
            if style != "4.9":
                body += "THPeligible:    0\n"
            flags = "rd wr sh mr mw me ms pf io de dd " if shared else "rd wr mr mw me ac "
            if "x" in perms:
                flags = "rd ex mr mw me "
            smaps.append(h + "\n" + body + f"VmFlags: {flags}\n")
        return "".join(x + "\n" for x in maps), "".join(smaps)

    def memtrack(self, p: SynthProcess) -> str:
        # the RFC's final (4/6) format; an empty file when the process holds no buffer
        held: dict[int, SynthBuffer] = {}
        for t in p.fds.values():
            if isinstance(t, SynthBuffer):
                held[t.inode] = t
        for b, _ in p.maps:
            held[b.inode] = b
        if not held:
            return ""
        out = ["%10.10s: %16.16s: %12.12s: %12.12s: %20s: %5s: %8s: pid:%d\n" % (
            "ref_count", "Identifier", "size", "tag", "startAddr-endAddr", "Flags", "pgOff", p.pid)]
        for b in sorted(held.values(), key=lambda b: b.memtrack_id):
            out.append("%10d  %16d  %12d  %12s\n" % (len(self.holders[b.inode]), b.memtrack_id, b.size,
                                                     b.name or ""))
            for mb, m in p.maps:
                if mb is b:
                    fl = "".join((m.perms[0], m.perms[1], m.perms[2], "s" if m.perms[3] == "s" else "p", "#"))
                    line = "%68x-%08x  %s  %08x" % (m.start, m.end, fl, m.offset)
                    if b.name:
                        line += " " + b.name
                    out.append(line + "\n")
        return "".join(out)
