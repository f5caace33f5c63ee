"""The feeder of `dumpsys SurfaceFlinger` -> Builder: its gralloc tables (parse/surfaceflinger.py),
owner evidence for the buffers SurfaceFlinger holds.

Called for the collector's `dumpsys_surfaceflinger` section (`--dumpsys`), a bug report's
`DUMP OF SERVICE SurfaceFlinger:` and a pasted dump. The rows are kept on the Builder
(`gralloc_rows`); finish() joins them to buffers (owners.gralloc_names: by exact allocation size,
only where that cannot be wrong) and passes the names to the owner inference. The tables' own
totals become reported figures (surfaceflinger.gralloc_allocated, surfaceflinger.gralloc_imported).
"""
from __future__ import annotations

from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import surfaceflinger as p_sf

SOURCE = "dumpsys_surfaceflinger"


def feed_surfaceflinger(b: Builder, text: str, *, where: str = "") -> int:
    """Feed one `dumpsys SurfaceFlinger` text; returns how many gralloc rows it gave."""
    res = p_sf.parse(text)
    b.problems.extend(res.problems)
    b.gralloc_rows.extend(res.records)
    for table, v in res.totals.items():
        b.reported[f"surfaceflinger.gralloc_{table}"] = v
    counts = {t: sum(1 for r in res.records if r.table == t) for t in ("allocated", "imported")}
    at = f", {where}" if where else ""
    if res.tables:
        b.sources[SOURCE] = SourceStatus("ok", f"{counts['allocated']} allocated, {counts['imported']} imported "
                                               f"gralloc buffers{at}")
    else:
        b.sources[SOURCE] = SourceStatus("partial", f"no GraphicBufferAllocator or imported-buffer table in the "
                                                    f"dump{at}")
    return len(res.records)
