"""`droidtrack top --bugreport FILE`: the live view shows a bugreport's processes (Textual Pilot)."""
from __future__ import annotations

import asyncio

from droidtrack.sources.bugreport import BugreportSource
from droidtrack.model.tags import load_rules
from droidtrack.tui.app import TopApp
from report_helpers import make_bugreport_zip


def test_top_shows_a_bugreport(tmp_path):
    src = BugreportSource(str(make_bugreport_zip(tmp_path / "b.zip")), rules=load_rules())
    app = TopApp(src, interval=0.2, save_dir=tmp_path)

    async def go() -> list[str]:
        async with app.run_test(size=(130, 40)) as pilot:
            table = app.pane.query_one("#proc_table")
            for _ in range(500):
                if table.row_count:
                    break
                await pilot.pause(0.02)
            return table.keys()

    keys = asyncio.run(go())
    assert len(keys) == 7                       # the 7 processes dmabuf_dump listed
    assert any("4311" in k for k in keys)
