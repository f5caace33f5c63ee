"""The `shell:`, `shell,v2:` and `exec:` services (a command in the sandbox, its stdin, stdout,
stderr and exit code) and `root:`/`unroot:` (adbd restarting with another uid)."""
from __future__ import annotations

import asyncio

from droidtrack.double import protocol as P
from droidtrack.double.transport import Stream


class ShellService:
    """Mixed into DeviceDouble (which provides sandbox, config, uid, on_command, set_rooted, _abort_all)."""

    async def _svc_shell(self, s: Stream, cmd: str, *, v2: bool, term: str | None) -> None:
        if self.on_command is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_command, cmd)
        sb = self.sandbox
        assert sb is not None
        uid = self.uid
        sb.set_self_uid(uid)
        proc = await asyncio.create_subprocess_exec(
            *sb.argv(cmd, uid), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if v2 else asyncio.subprocess.STDOUT,
            env=sb.env(uid, term), cwd=sb.cwd, start_new_session=True, limit=1024 * 1024)
        s.proc = proc
        if s.closed:
            s.kill()

        async def pump(reader: asyncio.StreamReader, kind: int) -> None:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    return
                s.write(P.shell_packet(kind, data) if v2 else data)
                await s.drain()

        async def feed() -> None:
            stdin = proc.stdin
            assert stdin is not None
            parser = P.ShellV2Reader() if v2 else None
            try:
                while True:
                    chunk = await s.read()
                    if chunk is None:
                        return
                    if parser is None:
                        stdin.write(chunk)
                        await stdin.drain()
                        continue
                    for kind, data in parser.feed(chunk):
                        if kind == P.SHELL_STDIN and data:
                            stdin.write(data)
                            await stdin.drain()
                        elif kind == P.SHELL_CLOSE_STDIN:
                            stdin.close()
            except (ConnectionError, BrokenPipeError):
                pass                              # the command stopped reading

        feeder = asyncio.ensure_future(feed())
        s.tasks.append(feeder)
        pumps = [pump(proc.stdout, P.SHELL_STDOUT)]
        if v2:
            pumps.append(pump(proc.stderr, P.SHELL_STDERR))
        await asyncio.gather(*pumps)
        rc = await proc.wait()
        if rc < 0:
            rc = 128 - rc
        feeder.cancel()
        if v2:
            s.write(P.shell_packet(P.SHELL_EXIT, bytes([rc & 0xFF])))
        s.finish()

    # ---- root / unroot -----------------------------------------------------------------------
    async def _svc_root(self, s: Stream, root: bool) -> None:
        restart = False
        if root:
            if self.config.rooted:
                s.write(b"adbd is already running as root\n")
            elif not self.config.adb_root:
                s.write(b"adbd cannot run as root in production builds\n")
            else:
                s.write(b"restarting adbd as root\n")
                restart = True
        else:
            if not self.config.rooted:
                s.write(b"adbd not running as root\n")
            else:
                s.write(b"restarting adbd as non root\n")
                restart = True
        s.finish()
        if restart:
            # adbd restarts: once the reply is out the transport goes away, and the host
            # reconnects to an adbd running with the new uid
            try:
                await asyncio.wait_for(s.sender, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
            self.set_rooted(root)
            self._abort_all()
