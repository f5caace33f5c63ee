"""The /sys and /dev parts of a synthetic device tree: debugfs bufinfo, sysfs dma-buf stats, the
pinned BPF dma-buf iterator, ION
(sysfs totals, debugfs heaps and clients), dma-heap pools and devices, memtrack debugfs, Mali and
KGSL GPU memory. Each part is one method; tree_writer.PARTS says when each is written."""
from __future__ import annotations

import os

from droidtrack.sim.tree_model import PAGE, SynthBuffer


class SysParts:
    """Mixed into tree_writer.TreeWriter (which provides t, g, root, holders, counts, _w)."""

    def sys_dirs(self) -> None:
        os.makedirs(f"{self.root}/sys/kernel")

    def debugfs_bufinfo(self) -> None:
        os.makedirs(f"{self.root}/sys/kernel/debug/dma_buf")
        self._w(f"{self.root}/sys/kernel/debug/dma_buf/bufinfo", self.bufinfo())

    def sysfs_stats(self) -> None:
        B = f"{self.root}/sys/kernel/dmabuf/buffers"
        os.makedirs(B)
        for b in self.t.buffers:
            os.mkdir(f"{B}/{b.inode}")
            self._w(f"{B}/{b.inode}/size", f"{b.size}\n")
            self._w(f"{B}/{b.inode}/exporter_name", f"{b.exporter}\n")

    def bpf_dmabuf_iter(self) -> None:
        """What reading AOSP's pinned iterator prints: inode, size, name, exporter per buffer (a
        newline in a name printed as a space), in the kernel's list order (newest first)."""
        D = f"{self.root}/sys/fs/bpf/dmabuf"
        os.makedirs(D)
        text = "".join(f"{b.inode}\n{b.size}\n{(b.name or '').replace(chr(10), ' ')}\n{b.exporter}\n"
                       for b in sorted(self.t.buffers, key=lambda b: -b.seq))
        self._w(f"{D}/prog_dmabufIter_iter_dmabuf", text)

    def ion_sysfs(self) -> None:
        D = f"{self.root}/sys/kernel/ion"
        os.makedirs(D)
        ion = sum(b.size for b in self.t.buffers if b.exporter == "ion")
        self._w(f"{D}/total_heaps_kb", f"{ion // 1024}\n")
        self._w(f"{D}/total_pools_kb", f"{self.t.pool_bytes // 1024}\n")

    def dma_heap_pools(self) -> None:
        os.makedirs(f"{self.root}/sys/kernel/dma_heap")
        self._w(f"{self.root}/sys/kernel/dma_heap/total_pools_kb", f"{self.t.pool_bytes // 1024}\n")

    def mali_debugfs(self) -> None:
        D = f"{self.root}/sys/kernel/debug/mali0"
        os.makedirs(D)
        rows = [(p.pid, -(-p.gpu["private"] // PAGE)) for p in self.t.processes.values() if p.gpu]
        text = "%-16s  %10u\n" % ("mali0", sum(n for _, n in rows))
        for i, (pid, pages) in enumerate(rows):
            text += "  %s-0x%016x %10u %10u\n" % ("kctx", 0xffffffc0a0000000 + i * 0x10000, pages, pid)
        self._w(f"{D}/gpu_memory", text)

    def kgsl_sysfs(self) -> None:
        K = f"{self.root}/sys/class/kgsl/kgsl/proc"
        os.makedirs(K)
        for p in self.t.processes.values():
            if not p.gpu:
                continue
            os.mkdir(f"{K}/{p.pid}")
            priv, imp = p.gpu["private"], p.gpu["imported"]
            for fname, val in (("kernel", priv // 16), ("kernel_max", priv // 16), ("user", priv),
                               ("user_max", priv), ("imported_mem", imp), ("gpumem_mapped", priv // 4),
                               ("gpumem_unmapped", priv - priv // 4)):
                self._w(f"{K}/{p.pid}/{fname}", f"{val}\n")

    def bufinfo(self) -> str:
        g = self.g
        fmt = g["bufinfo"]
        out = ["\nDma-buf Objects:\n"]
        if fmt == "4.9":
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\n" % ("size", "flags", "mode", "count"))
        elif fmt == "5.3":
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\n" % ("size", "flags", "mode", "count", "ino"))
        else:
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\tname\n" % ("size", "flags", "mode", "count", "ino"))
        total = 0
        for b in sorted(self.t.buffers, key=lambda b: -b.seq):   # newest first
            c = self.counts[b.inode]
            row = "%08d\t%s\t%s\t%08d\t%s" % (b.size, g["flags"], g["mode"], c, b.exporter)
            if fmt == "5.3":
                row += "\t%08d\t%s" % (b.inode, b.name or "")
            elif fmt == "5.19":
                row += "\t%08d\t%s" % (b.inode, b.name or "<none>")
            out.append(row + "\n")
            for usage, driver, timeline, seq, signalled in b.fences:
                sig = "" if signalled else "un"
                if fmt == "5.3":           # 4.12-5.15
                    kind = "Exclusive" if usage in ("write", "exclusive", "Exclusive") else "Shared"
                    out.append("\t%s fence: %s %s %ssignalled\n" % (kind, driver, timeline, sig))
                elif fmt == "5.19":        # 5.19+: usage word, dma_fence_describe
                    out.append("\t%s fence:%s %s seq %d %ssignalled\n" % (usage, driver, timeline, seq, sig))
            out.append("\tAttached Devices:\n")
            for dev in b.attached:
                out.append("\t%s\n" % dev)
            out.append("Total %d devices attached\n\n" % len(b.attached))
            total += b.size
        out.append("\nTotal %d objects, %d bytes\n" % (len(self.t.buffers), total))
        return "".join(out)

    def ion_debugfs(self) -> None:
        t = self.t
        D = f"{self.root}/sys/kernel/debug/ion"
        os.makedirs(f"{D}/heaps")
        os.makedirs(f"{D}/clients")
        procs = t.processes
        heaps = sorted({b.heap for b in t.buffers} | {"system"})
        sep = "-" * 52 + "\n"
        # a client (per process that opened /dev/ion) holds a handle on what it allocated and
        # still holds; everything else is "orphaned" (no handle), shown with its last client
        client_bytes: dict[tuple[int, str], int] = {}
        orphans: dict[str, list[SynthBuffer]] = {}
        for b in t.buffers:
            a = b.allocator
            if a is not None and a in procs and a in self.holders[b.inode]:
                client_bytes[(a, b.heap)] = client_bytes.get((a, b.heap), 0) + b.size
            else:
                orphans.setdefault(b.heap, []).append(b)
        for heap in heaps:
            lines = ["%16s %16s %16s\n" % ("client", "pid", "size"), sep]
            for (pid, h), size in sorted(client_bytes.items()):
                if h == heap:
                    lines.append("%16s %16u %16u\n" % (procs[pid].name[:15], pid, size))
            lines += [sep, "orphaned allocations (info is from last known client):\n"]
            orphaned = 0
            for b in orphans.get(heap, []):
                last = procs.get(b.allocator) if b.allocator is not None else None
                lines.append("%16s %16u %16u %d %d\n" % (last.name[:15] if last else "", b.allocator or 0,
                                                         b.size, 0, 1 + bool(self.holders[b.inode])))
                orphaned += b.size
            lines += [sep, "%16s %16u\n" % ("total orphaned", orphaned),
                      "%16s %16u\n" % ("total ", sum(b.size for b in t.buffers if b.heap == heap)),
                      "%16s %16u\n" % ("deferred free", 0), sep]
            if heap == "system":
                for cached in ("uncached", "cached"):
                    for order in (8, 4, 0):
                        for mem in ("highmem", "lowmem"):
                            lines.append("%d order %u %s pages in %s pool = %lu total\n" % (0, order, mem, cached, 0))
            self._w(f"{D}/heaps/{heap}", "".join(lines))
        serial: dict[int, int] = {}
        for (pid, heap), size in sorted(client_bytes.items()):
            n = serial.setdefault(pid, 0)
            path = f"{D}/clients/{pid}-{n}"
            text = "%16.16s: %16.16s\n" % ("heap_name", "size_in_bytes")
            for h in heaps:
                if (pid, h) in client_bytes:
                    text += "%16.16s: %16u\n" % (h, client_bytes[(pid, h)])
            self._w(path, text)

    def memtrack_debugfs(self) -> None:
        self._w(f"{self.root}/sys/kernel/debug/memtrack", self.memtrack_debug())

    def memtrack_debug(self) -> str:
        out = ["%4.4s %12.12s %10s %12.12s %3.3s\n" % ("pid", "buffer_size", "ref", "Identifier", "tag")]
        for b in self.t.buffers:
            out.append("%4d %12d %10d %12d %s\n" % (b.allocator or 0, b.size, len(self.holders[b.inode]),
                                                   b.memtrack_id, b.name or ""))
        return "".join(out)

    def dev_heaps(self) -> None:
        d = self.root / "dev" / "dma_heap"
        d.mkdir(parents=True)
        for h in self.t.heaps:
            # character devices on a phone; empty regular files here (the collector only lists them)
            self._w(str(d / h), "")
