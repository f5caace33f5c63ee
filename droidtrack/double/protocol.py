"""Wire formats of the adb device transport, the shell v2 protocol and the sync protocol.

Facts (AOSP adb/protocol.txt, shell_protocol.h, file_sync_protocol.h; what the double does with
them: docs/adb-double.md): a transport packet is a 24-byte header of six
little-endian u32 values `command, arg0, arg1, data_length, data_check, magic` followed by the
payload; `magic = command ^ 0xffffffff`; `data_check` is a byte sum, only required below
version 0x01000001, so we send 0.
"""
from __future__ import annotations

import struct

A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_WRTE = 0x45545257
A_CLSE = 0x45534C43
A_AUTH = 0x48545541
A_STLS = 0x534C5453

NAMES = {A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY", A_WRTE: "WRTE", A_CLSE: "CLSE",
         A_AUTH: "AUTH", A_STLS: "STLS"}

A_VERSION = 0x01000001
MAX_PAYLOAD = 1024 * 1024

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3

HEADER = struct.Struct("<6I")


def packet(cmd: int, arg0: int, arg1: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(cmd, arg0, arg1, len(payload), 0, cmd ^ 0xFFFFFFFF) + payload


# ---- shell protocol v2: id u8, length u32 LE, data ----------------------------------------
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
SHELL_WINDOW_SIZE = 5
SHELL_HEADER = struct.Struct("<BI")


def shell_packet(kind: int, data: bytes) -> bytes:
    return SHELL_HEADER.pack(kind, len(data)) + data


class ShellV2Reader:
    """Incremental parser of shell v2 packets from a byte stream split arbitrarily."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= 5:
            kind, n = SHELL_HEADER.unpack_from(self._buf)
            if len(self._buf) < 5 + n:
                break
            out.append((kind, bytes(self._buf[5:5 + n])))
            del self._buf[:5 + n]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


# ---- sync protocol ---------------------------------------------------------------------------
def sync_id(s: str) -> int:
    return struct.unpack("<I", s.encode())[0]


ID_STAT = sync_id("STAT")
ID_STA2 = sync_id("STA2")
ID_LST2 = sync_id("LST2")
ID_LIST = sync_id("LIST")
ID_LIS2 = sync_id("LIS2")
ID_DENT = sync_id("DENT")
ID_DNT2 = sync_id("DNT2")
ID_SEND = sync_id("SEND")
ID_SND2 = sync_id("SND2")
ID_RECV = sync_id("RECV")
ID_RCV2 = sync_id("RCV2")
ID_DATA = sync_id("DATA")
ID_DONE = sync_id("DONE")
ID_OKAY = sync_id("OKAY")
ID_FAIL = sync_id("FAIL")
ID_QUIT = sync_id("QUIT")

SYNC_DATA_MAX = 64 * 1024
SYNC_REQ = struct.Struct("<II")
STAT_V1 = struct.Struct("<IIII")            # id mode size mtime
STAT_V2 = struct.Struct("<IIQQIIIIQqqq")    # id error dev ino mode nlink uid gid size atime mtime ctime
DENT_V1 = struct.Struct("<IIIII")           # id mode size mtime namelen
DENT_V2 = struct.Struct("<IIQQIIIIQqqqI")   # id error dev ino mode nlink uid gid size atime mtime ctime namelen

SYNC_FLAG_BROTLI = 1
SYNC_FLAG_LZ4 = 2
SYNC_FLAG_ZSTD = 4
SYNC_FLAG_DRY_RUN = 0x80000000

# features this double implements; see the pitfalls about what must not be advertised
FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir", "apex",
            "fixed_push_symlink_timestamp", "remount_shell", "sendrecv_v2",
            "sendrecv_v2_dry_run_send")
