"""A live device through an adb server (or the built-in demo device, which is one): one `adb shell`
running the collector per snapshot. The adb specifics live in sources/adb.py."""
from __future__ import annotations

import argparse
import contextlib
import time

from droidtrack.collect import frames
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.model.problems import Problem
from droidtrack.sources import Collected, SourceError, collected_from_stream
from droidtrack.model.tags import Rules


class LiveSource:
    def __init__(self, args: argparse.Namespace, *, rules: Rules | None = None, dumpsys: bool = False,
                 fd_inodes: str = "auto", packages: tuple[str, ...] = (), focus: bool = False) -> None:
        try:
            from droidtrack.sources import adb
        except ImportError as e:  # pragma: no cover - a broken install
            raise SourceError(f"the adb source is not available: {e}") from None
        self._adb = adb
        self.rules = rules
        self.dumpsys = dumpsys
        self.fd_inodes = fd_inodes
        self.packages = tuple(packages)
        self.focus = focus          # top/check --package: read only the apps (see collect.sh --focus)
        self._stack = contextlib.ExitStack()
        if getattr(args, "demo", False):
            from droidtrack.sim.demo import start_demo_device
            port, serial = self._stack.enter_context(
                start_demo_device(build=getattr(args, "demo_build", None) or "userdebug"))
            args.adb_port = port
            args.serial = serial
            if hasattr(args, "adb_host"):
                args.adb_host = "127.0.0.1"
            self.demo = True
        else:
            self.demo = False
        try:
            self.target = adb.target_from_args(args)
        except Exception:
            self._stack.close()
            raise
        self.label = "demo" if self.demo else f"adb:{self.target.serial or '?'}"
        self._owners: dict | None = None      # the last snapshot's (Builder.finish)

    def collect(self) -> Collected:
        token = frames.new_token()
        t = time.time()
        try:
            res = self._adb.collect(self.target, token, dumpsys=self.dumpsys, fd_inodes=self.fd_inodes,
                                    packages=self.packages, focus=self.focus)
        except self._adb.AdbError as e:
            raise SourceError(str(e)) from None
        fr = frames.decode(res.data, token)
        if res.error:
            fr.problems.insert(0, Problem("adb", res.error))
            if not fr.sections:
                raise SourceError(res.error)
        serial = res.serial
        self.label = "demo" if self.demo else f"adb:{serial}"
        snap = snapshot_from_frames(fr, rules=self.rules, time=t, origin=self.label, serial=serial,
                                    previous_owners=self._owners)
        self._owners = snap.owners         # a buffer only services hold now keeps its last app holder
        return collected_from_stream(fr, snap, res.data, res.error)

    def close(self) -> None:
        self._stack.close()
