"""Regenerate docs/screenshot.svg (the README's picture of `droidtrack top`): the demo device,
after a few refreshes, so the camera app's leak shows in the Δ column.

    python tests/tui/make_screenshot.py [OUT.svg] [--frames N]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from droidtrack.sources.live import LiveSource  # noqa: E402
from droidtrack.tui.app import TopApp  # noqa: E402


async def main(out: Path, frames: int, size: tuple[int, int]) -> None:
    src = LiveSource(argparse.Namespace(demo=True, serial=None, adb_host=None, adb_port=None, su="auto"))
    app = TopApp(src, interval=0.5)
    async with app.run_test(size=size) as pilot:
        while app.pane.frames_applied < frames:
            await pilot.pause(0.1)
        app.pane.feed.set_paused(True)
        await pilot.press("home")
        await pilot.pause(0.2)
        app.pane.state = "live"          # the picture shows a live session, not the pause used to take it
        app.pane._paint_bars()
        await pilot.pause(0.2)
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"wrote {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshot.svg"))
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="130x36")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    asyncio.run(main(Path(a.out), a.frames, (w, h)))
