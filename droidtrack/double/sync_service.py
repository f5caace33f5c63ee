"""The `sync:` service: STAT/LSTAT (v1 and v2), LIST (v1 and v2), SEND/SND2 (push, with dry-run),
RECV/RCV2 (pull), on the host paths the sandbox maps device paths to, with the permission checks
adbd's uid would meet."""
from __future__ import annotations

import errno
import os
import stat

from droidtrack.double import protocol as P
from droidtrack.double.sandbox import may_access
from droidtrack.double.transport import Stream


class Input:
    """Exact-size reads over a stream's incoming chunks (for the sync protocol)."""

    def __init__(self, stream: Stream) -> None:
        self.s = stream
        self.buf = bytearray()

    async def read(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            chunk = await self.s.read()
            if chunk is None:
                return None
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out



class SyncService:
    """Mixed into DeviceDouble (which provides sandbox and uid)."""

    async def _svc_sync(self, s: Stream) -> None:
        inp = Input(s)
        sb = self.sandbox
        assert sb is not None
        while True:
            req = await inp.read(8)
            if req is None:
                return
            rid, n = P.SYNC_REQ.unpack(req)
            if rid == P.ID_QUIT:
                s.finish()
                return
            if n > 1024:
                self._sync_fail(s, "path too long")
                s.finish()
                return
            raw = await inp.read(n)
            if raw is None:
                return
            path = raw.decode("utf-8", "surrogateescape")
            if rid == P.ID_STAT:
                s.write(self._stat_v1(path))
            elif rid in (P.ID_STA2, P.ID_LST2):
                s.write(self._stat_v2(path, follow=rid == P.ID_STA2))
            elif rid in (P.ID_LIST, P.ID_LIS2):
                await self._list(s, path, v2=rid == P.ID_LIS2)
            elif rid == P.ID_SEND:
                dst, _, mode = path.rpartition(",")
                if not dst or not mode.isdigit():
                    dst, mode = path, "420"
                if not await self._recv_file(s, inp, dst, int(mode), 0):
                    return
            elif rid == P.ID_SND2:
                setup = await inp.read(12)
                if setup is None:
                    return
                _sid, mode, flags = P.SYNC_REQ.unpack(setup[:8]) + (int.from_bytes(setup[8:], "little"),)
                if not await self._recv_file(s, inp, path, mode, flags):
                    return
            elif rid == P.ID_RECV:
                await self._send_file(s, path, 0)
            elif rid == P.ID_RCV2:
                setup = await inp.read(8)
                if setup is None:
                    return
                await self._send_file(s, path, int.from_bytes(setup[4:], "little"))
            else:
                self._sync_fail(s, f"unknown sync request {req[:4]!r}")
                s.finish()
                return

    @staticmethod
    def _sync_fail(s: Stream, msg: str) -> None:
        m = msg.encode()
        s.write(P.SYNC_REQ.pack(P.ID_FAIL, len(m)) + m)

    def _reachable(self, path: str) -> bool:
        """Every directory on the way to `path` is searchable by adbd's uid."""
        if self.uid == 0:
            return True
        assert self.sandbox is not None
        parts = [p for p in path.split("/") if p and p != "."]
        cur = ""
        for part in parts[:-1]:
            cur += "/" + part
            try:
                st = os.stat(self.sandbox.host_path(cur))
            except OSError:
                return True                       # missing: the caller reports that
            if stat.S_ISDIR(st.st_mode) and not may_access(st, self.uid, 1):
                return False
        return True

    def _lstat(self, path: str, follow: bool = False) -> tuple[os.stat_result | None, int]:
        assert self.sandbox is not None
        if not self._reachable(path):
            return None, errno.EACCES
        hp = self.sandbox.host_path(path)
        try:
            return (os.stat(hp) if follow else os.lstat(hp)), 0
        except OSError as e:
            return None, e.errno or errno.ENOENT

    def _stat_v1(self, path: str) -> bytes:
        st, _ = self._lstat(path)
        if st is None:
            return P.STAT_V1.pack(P.ID_STAT, 0, 0, 0)
        return P.STAT_V1.pack(P.ID_STAT, st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                              int(st.st_mtime) & 0xFFFFFFFF)

    def _stat_v2(self, path: str, follow: bool) -> bytes:
        rid = P.ID_STA2 if follow else P.ID_LST2
        st, err = self._lstat(path, follow)
        if st is None:
            return P.STAT_V2.pack(rid, err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return P.STAT_V2.pack(rid, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                              st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))

    async def _list(self, s: Stream, path: str, v2: bool) -> None:
        assert self.sandbox is not None
        hp = self.sandbox.host_path(path)
        names: list[str] = []
        try:
            st = os.stat(hp)
            if stat.S_ISDIR(st.st_mode) and may_access(st, self.uid, 5) and self._reachable(path):
                names = [".", ".."] + sorted(os.listdir(hp))
        except OSError:
            pass
        for name in names:
            try:
                st = os.lstat(os.path.join(hp, name))
            except OSError:
                continue
            nb = name.encode("utf-8", "surrogateescape")
            if v2:
                s.write(P.DENT_V2.pack(P.ID_DNT2, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                                       st.st_uid, st.st_gid, st.st_size, int(st.st_atime),
                                       int(st.st_mtime), int(st.st_ctime), len(nb)) + nb)
            else:
                s.write(P.DENT_V1.pack(P.ID_DENT, st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                       int(st.st_mtime) & 0xFFFFFFFF, len(nb)) + nb)
            await s.drain()
        if v2:
            s.write(P.DENT_V2.pack(P.ID_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        else:
            s.write(P.DENT_V1.pack(P.ID_DONE, 0, 0, 0, 0))

    def _check_writable(self, path: str) -> str | None:
        """None if the current adbd uid may create `path` (creating parents), else an error."""
        sb = self.sandbox
        assert sb is not None
        if sb.read_only(path):
            return "Read-only file system"
        if not self._reachable(path):
            return "Permission denied"
        hp = sb.host_path(path)
        d = hp.parent
        while not d.exists():
            d = d.parent
        try:
            st = os.stat(d)
        except OSError as e:
            return e.strerror
        if not stat.S_ISDIR(st.st_mode):
            return "Not a directory"
        if not may_access(st, self.uid, 3):
            return "Permission denied"
        if hp.exists() and not hp.is_dir():
            if not may_access(os.stat(hp), self.uid, 2):
                return "Permission denied"
        return None

    async def _recv_file(self, s: Stream, inp: Input, path: str, mode: int, flags: int) -> bool:
        """SEND/SND2: take DATA chunks until DONE, write the file. False if the stream died."""
        sb = self.sandbox
        assert sb is not None
        err = None
        if flags & ~P.SYNC_FLAG_DRY_RUN:
            err = f"remote unknown flags: {flags & ~P.SYNC_FLAG_DRY_RUN}"
        dry = bool(flags & P.SYNC_FLAG_DRY_RUN)
        if err is None:
            err = self._check_writable(path)
        hp = sb.host_path(path)
        tmp = hp.with_name(f".{hp.name}.dtpush{os.getpid()}")
        fh = None
        if err is None and not dry:
            try:
                d = hp.parent
                made = []
                while not d.exists():
                    made.append(d)
                    d = d.parent
                for d in reversed(made):
                    d.mkdir()
                    os.chmod(d, 0o771)
                    if self.uid:
                        os.chown(d, self.uid, self.uid)
                if stat.S_ISLNK(mode):
                    fh = bytearray()
                else:
                    fh = open(tmp, "wb")
            except OSError as e:
                err = f"couldn't create file: {e.strerror}"
        while True:
            head = await inp.read(8)
            if head is None:
                if hasattr(fh, "close"):
                    fh.close()
                    tmp.unlink(missing_ok=True)
                return False
            rid, n = P.SYNC_REQ.unpack(head)
            if rid == P.ID_DATA:
                if n > P.SYNC_DATA_MAX:
                    err = err or "data chunk too large"
                data = await inp.read(n)
                if data is None:
                    if hasattr(fh, "close"):
                        fh.close()
                        tmp.unlink(missing_ok=True)
                    return False
                if fh is not None and err is None:
                    if isinstance(fh, bytearray):
                        fh += data
                    else:
                        fh.write(data)
            elif rid == P.ID_DONE:
                mtime = n
                break
            else:
                err = err or f"unexpected sync id {head[:4]!r} during push"
                break
        if fh is not None:
            try:
                if isinstance(fh, bytearray):
                    if err is None:
                        if hp.is_symlink() or hp.exists():
                            hp.unlink()
                        os.symlink(bytes(fh).decode("utf-8", "surrogateescape"), hp)
                else:
                    fh.close()
                    if err is None:
                        os.chmod(tmp, mode & 0o7777 or 0o644)
                        if self.uid and not sb.rootless:
                            os.chown(tmp, self.uid, self.uid)
                        os.utime(tmp, (mtime, mtime))
                        os.replace(tmp, hp)
                    else:
                        tmp.unlink(missing_ok=True)
            except OSError as e:
                err = f"couldn't create file: {e.strerror}"
                tmp.unlink(missing_ok=True)
        if err is None:
            s.write(P.SYNC_REQ.pack(P.ID_OKAY, 0))
        else:
            self._sync_fail(s, err)
        return True

    async def _send_file(self, s: Stream, path: str, flags: int) -> None:
        """RECV/RCV2: DATA chunks then DONE, coalesced into as few WRTEs as possible."""
        if flags:
            self._sync_fail(s, f"remote unknown flags: {flags}")
            return
        assert self.sandbox is not None
        hp = self.sandbox.host_path(path)
        try:
            if not self._reachable(path):
                raise PermissionError(errno.EACCES, "Permission denied")
            st = os.stat(hp)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if not may_access(st, self.uid, 4):
                raise PermissionError(errno.EACCES, "Permission denied")
            f = open(hp, "rb")
        except OSError as e:
            self._sync_fail(s, f"open failed: {e.strerror}")
            return
        with f:
            while True:
                data = f.read(P.SYNC_DATA_MAX)
                if not data:
                    break
                s.write(P.SYNC_REQ.pack(P.ID_DATA, len(data)) + data)
                await s.drain()
        s.write(P.SYNC_REQ.pack(P.ID_DONE, 0))
