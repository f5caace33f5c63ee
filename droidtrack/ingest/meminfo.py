"""The feeder of `dumpsys meminfo` output (the whole dump or one app's) -> Builder.

Called for the collector's `dumpsys_meminfo` section, a bug report's DUMP OF SERVICE meminfo and
pasted text alike. It names no buffer: what it says goes to `reported` (keys in docs/formats.md):
  device   dumpsys.dmabuf (+ dumpsys.dmabuf_mapped, _unmapped, ...: the parts in parentheses),
           dumpsys.dmabuf_heaps, dumpsys.dmabuf_heaps_pool, dumpsys.ion, dumpsys.gpu,
           dumpsys.kernel_cma; dumpsys.pss_by_category.<egl_mtrack|gl_mtrack|other_mtrack|gfx_dev>
  process  meminfo.gfx_dev, meminfo.egl_mtrack, meminfo.gl_mtrack, meminfo.other_mtrack,
           meminfo.graphics_summary (device-level keys of these names when an app's excerpt
           lacks its "** MEMINFO in pid" line)
and fills process names it lacks: an app's package from its MEMINFO header or from "Total PSS by
process" (as the cmdline, when it looks like a package), else the printed name.
"""
from __future__ import annotations

import re

from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.model.problems import Problem
from droidtrack.parse import meminfo as p_meminfo

_SYSTEM_KEYS = {"dmabuf": "dumpsys.dmabuf", "dmabuf_heaps": "dumpsys.dmabuf_heaps",
                "dmabuf_heaps_pool": "dumpsys.dmabuf_heaps_pool", "ion": "dumpsys.ion",
                "gpu": "dumpsys.gpu", "kernel_cma": "dumpsys.kernel_cma"}
_CATEGORIES = {"EGL mtrack": "egl_mtrack", "GL mtrack": "gl_mtrack", "Other mtrack": "other_mtrack",
               "Gfx dev": "gfx_dev"}
_APP_FIELDS = ("gfx_dev", "egl_mtrack", "gl_mtrack", "other_mtrack", "graphics_summary")
APP_NAME = re.compile(r"^[A-Za-z][\w]*(?:\.[A-Za-z_][\w]*)+(?::[\w.]+)?$")


def feed_meminfo(b: Builder, text: str, *, where: str = "") -> int:
    """Feed one `dumpsys meminfo` text; returns how many figures it gave."""
    n_apps = n_totals = 0
    for r in b.records(p_meminfo.parse(text)):
        if isinstance(r, p_meminfo.SystemLine):
            key = _SYSTEM_KEYS.get(r.key)
            if key is None:
                continue
            b.reported[key] = r.total
            n_totals += 1
            for part, v in r.parts.items():
                b.reported[f"{key}_{part}"] = v
        elif isinstance(r, p_meminfo.AppMemtrack) and r.pid is None:
            # an excerpt of one app's dump without its "** MEMINFO in pid" line: whose it is is
            # not said, so its figures are the text's own (device-level keys of the same names)
            n_apps += 1
            for f in _APP_FIELDS:
                v = getattr(r, f)
                if v is not None:
                    b.reported[f"meminfo.{f}"] = v
            b.problems.append(Problem("dumpsys_meminfo", "an app's memtrack rows without its '** MEMINFO in pid' "
                                      "line: reported as the text's own meminfo.* figures, held by no process"))
        elif isinstance(r, p_meminfo.AppMemtrack):
            n_apps += 1
            p = b.process(r.pid)
            for f in _APP_FIELDS:
                v = getattr(r, f)
                if v is not None:
                    p.reported[f"meminfo.{f}"] = v
            if r.package and not p.cmdline:
                p.cmdline = (r.package,)
        elif isinstance(r, p_meminfo.CategoryTotal) and r.kind == "pss" and r.label in _CATEGORIES:
            b.reported[f"dumpsys.pss_by_category.{_CATEGORIES[r.label]}"] = r.bytes
            n_totals += 1
        elif isinstance(r, p_meminfo.ProcessMem) and r.kind == "pss":
            p = b.process(r.pid)
            if APP_NAME.match(r.name):
                if not p.cmdline:
                    p.cmdline = (r.name,)
            elif not p.name:
                p.name = r.name
    at = f", {where}" if where else ""
    b.sources["dumpsys_meminfo"] = SourceStatus("ok" if n_apps or n_totals else "partial",
                                                f"{n_apps} apps' memtrack rows, {n_totals} totals{at}")
    return n_apps + n_totals
