"""DRM client memory in fdinfo: /proc/<pid>/fdinfo/<fd> of an open DRM device (the kernel's
Documentation/gpu/drm-usage-stats.rst).

A DRM file's fdinfo has, after the generic lines (pos, flags, mnt_id, ino), `key:\\tvalue` lines:

    drm-driver: <name>                 mandatory: this is a DRM client
    drm-pdev: <pci slot>               optional, with drm-client-id identifies the client
    drm-client-id: <unsigned>          unique per open DRM file: fds dup'd or passed between
                                       processes show the same id (the same client, counted once)
    drm-client-name: <text>            optional
    drm-total-<region>: <n> [KiB|MiB]      all objects the client has handles to
    drm-shared-<region>: <n> [KiB|MiB]     of those, shared with another file (exported or
                                           imported with PRIME: dma-bufs, already counted as such)
    drm-resident-<region>, drm-purgeable-<region>, drm-active-<region>
    drm-memory-<region>: <n> [KiB|MiB]     the older name of resident memory
    drm-engine-*, drm-cycles-*, ...        time, not memory: ignored

No unit means bytes. `parse` reads one file's text; `per_process` sums the clients of each
process, each client once, into `Process.reported` keys (README, JSON schema): gpu.drm.total,
gpu.drm.shared, gpu.drm.private (= total - shared: the GPU memory that no dma-buf accounts for),
gpu.drm.resident, gpu.drm.purgeable, gpu.drm.active, gpu.drm.clients.

Hostile input: lines that are not `key:\\tvalue`, values that are not a number with a known unit,
numbers past 2**64, a key repeated, a region name with odd characters: skipped and said; a file
without drm-driver is not a DRM client (None, no problem). Nothing raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from droidtrack.model.problems import Problem

SOURCE = "drm_fdinfo"
KINDS = ("total", "shared", "resident", "purgeable", "active")
_UNITS = {"": 1, "KiB": 1024, "MiB": 1024 * 1024}
_MEM = re.compile(r"drm-(total|shared|resident|purgeable|active|memory)-([A-Za-z0-9_.+-]{1,64})")
_VALUE = re.compile(r"(\d{1,20})(?: (KiB|MiB))?")
MAX_LINES = 4096          # a DRM fdinfo has a few dozen lines


@dataclass
class DrmClient:
    driver: str
    client_id: int | None = None
    pdev: str | None = None
    name: str | None = None
    memory: dict[str, dict[str, int]] = field(default_factory=dict)   # region -> kind -> bytes

    @property
    def key(self) -> tuple:
        """The client's identity: the same open DRM file seen through several fds."""
        return (self.driver, self.pdev, self.client_id)

    def sum(self, kind: str) -> int:
        return sum(r.get(kind, 0) for r in self.memory.values())


def parse(text: str, path: str | None = None) -> tuple[DrmClient | None, list[Problem]]:
    probs: list[Problem] = []
    kv: dict[str, str] = {}
    for i, line in enumerate(text.split("\n")[:MAX_LINES + 1], 1):
        if i > MAX_LINES:
            probs.append(Problem(SOURCE, f"more than {MAX_LINES} lines: the rest is not read", path=path))
            break
        if not line.startswith("drm-"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            probs.append(Problem(SOURCE, "drm- line without a colon: skipped", line=i, text=line, path=path))
            continue
        value = value.strip(" \t")
        if key in kv:
            probs.append(Problem(SOURCE, f"{key} given twice: the first is kept", line=i, text=line, path=path))
            continue
        kv[key] = value
    driver = kv.get("drm-driver")
    if not driver:
        return None, probs
    c = DrmClient(driver=driver, pdev=kv.get("drm-pdev") or None, name=kv.get("drm-client-name") or None)
    cid = kv.get("drm-client-id")
    if cid is not None:
        if cid.isdigit() and cid.isascii() and len(cid) <= 20:
            c.client_id = int(cid)
        else:
            probs.append(Problem(SOURCE, "drm-client-id is not a number: client not identified", text=cid, path=path))
    legacy: dict[str, int] = {}
    for key, value in kv.items():
        m = _MEM.fullmatch(key)
        if m is None:
            if key.startswith(("drm-total-", "drm-shared-", "drm-resident-", "drm-purgeable-", "drm-active-",
                               "drm-memory-")):
                probs.append(Problem(SOURCE, "memory key with an odd region name: skipped", text=key, path=path))
            continue
        v = _VALUE.fullmatch(value)
        if v is None:
            probs.append(Problem(SOURCE, f"{key}: not a number with unit KiB or MiB: skipped", text=value, path=path))
            continue
        n = int(v.group(1)) * _UNITS[v.group(2) or ""]
        if n >= 1 << 64:
            probs.append(Problem(SOURCE, f"{key}: {n} bytes is past 2**64: skipped", text=value, path=path))
            continue
        kind, region = m.group(1), m.group(2)
        if kind == "memory":
            legacy[region] = n
        else:
            c.memory.setdefault(region, {})[kind] = n
    for region, n in legacy.items():      # the older name of resident, where the new one is absent
        c.memory.setdefault(region, {}).setdefault("resident", n)
    return c, probs


def per_process(clients: Iterable[tuple[int, DrmClient]]) -> dict[int, dict[str, int]]:
    """pid -> reported keys, summing each process's distinct clients once (several fds of one
    client, its key, count once; a client without an id counts per fd, as nothing joins them)."""
    seen: dict[int, dict[tuple, DrmClient]] = {}
    for n, (pid, c) in enumerate(clients):
        key = c.key if c.client_id is not None else (c.driver, c.pdev, None, n)
        seen.setdefault(pid, {}).setdefault(key, c)
    out: dict[int, dict[str, int]] = {}
    for pid, cs in seen.items():
        rep = {f"gpu.drm.{k}": sum(c.sum(k) for c in cs.values()) for k in KINDS}
        rep["gpu.drm.private"] = max(0, rep["gpu.drm.total"] - rep["gpu.drm.shared"])
        rep["gpu.drm.clients"] = len(cs)
        out[pid] = rep
    return out
