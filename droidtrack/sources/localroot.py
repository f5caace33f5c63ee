"""A directory laid out like a device root: the real collector runs on it here, under sh."""
from __future__ import annotations

import time
from pathlib import Path

from droidtrack.collect import collector
from droidtrack.collect import frames
from droidtrack.ingest.stream import snapshot_from_frames
from droidtrack.model.problems import Problem
from droidtrack.sources import Collected, SourceError, collected_from_stream
from droidtrack.model.tags import Rules


class LocalRootSource:
    def __init__(self, root: str, *, rules: Rules | None = None, dumpsys: bool = False,
                 fd_inodes: str = "auto", packages: tuple[str, ...] = ()) -> None:
        self.root = Path(root)
        self.rules = rules
        self.dumpsys = dumpsys
        self.fd_inodes = fd_inodes
        self.packages = tuple(packages)
        self.label = f"root:{root}"
        self._owners: dict | None = None      # the last snapshot's (Builder.finish)

    def collect(self) -> Collected:
        token = frames.new_token()
        t = time.time()
        out, err, rc = collector.run_local(self.root, token, dumpsys=self.dumpsys, fd_inodes=self.fd_inodes,
                                           packages=self.packages)
        fr = frames.decode(out, token)
        if not fr.sections:
            msg = err.decode("utf-8", "replace").strip() or f"exit code {rc}"
            raise SourceError(f"the collector produced nothing for {self.root}: {msg}")
        if rc != 0:
            fr.problems.append(Problem("collector", f"collector exited with {rc}: "
                                       f"{err.decode('utf-8', 'replace').strip()[:200]}"))
        note = collector.shell_user_note(self.root)
        if note:
            fr.problems.append(Problem("permissions", note))
        snap = snapshot_from_frames(fr, rules=self.rules, time=t, origin=self.label, previous_owners=self._owners)
        self._owners = snap.owners
        return collected_from_stream(fr, snap, out, None if rc == 0 else f"the collector exited with {rc}")

    def close(self) -> None:
        pass
