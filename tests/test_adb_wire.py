"""The adb wire formats droidtrack parses itself: `host:devices-l` lines and shell v2 packets,
including streams split anywhere and streams cut short (no adb needed)."""
from __future__ import annotations

import socket
import struct
import threading

from hypothesis import example, given, settings
from hypothesis import strategies as st

from droidtrack.double import protocol as P
from droidtrack.sources import adb


@given(st.text())
@example("\t0")                      # a tab with nothing before it once gave a device with no serial
def test_parse_devices_l_never_raises(text):
    for d in adb.parse_devices_l(text):
        assert d.serial and d.state and isinstance(d.hint, str)


serials = st.from_regex(r"[A-Za-z0-9.:_-]{1,24}", fullmatch=True)
states = st.sampled_from(["device", "unauthorized", "offline", "recovery", "sideload", "bootloader",
                          "no permissions (missing udev rules? user is in the plugdev group); see [http://x]"])
props = st.dictionaries(st.sampled_from(["product", "model", "device", "transport_id", "usb"]),
                        st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True), max_size=5)


@given(st.lists(st.tuples(serials, states, props), max_size=6))
def test_parse_devices_l_round_trip(entries):
    text = "".join(f"{s:<22} {state}" + "".join(f" {k}:{v}" for k, v in p.items()) + "\n"
                   for s, state, p in entries)
    got = adb.parse_devices_l(text)
    assert [(d.serial, d.state, d.props) for d in got] == [(s, state, p) for s, state, p in entries]


def _stream(out: bytes, err: bytes, rc: int | None) -> bytes:
    parts = []
    for i in range(0, max(len(out), len(err)), 7):
        if out[i:i + 7]:
            parts.append(P.shell_packet(P.SHELL_STDOUT, out[i:i + 7]))
        if err[i:i + 7]:
            parts.append(P.shell_packet(P.SHELL_STDERR, err[i:i + 7]))
    if rc is not None:
        parts.append(P.shell_packet(P.SHELL_EXIT, bytes([rc])))
    return b"".join(parts)


def _read_through_socket(data: bytes, cuts: list[int]) -> adb.ShellResult:
    a, b = socket.socketpair()

    def feed():
        last = 0
        for c in sorted(set(cuts)) + [len(data)]:
            a.sendall(data[last:c])
            last = c
        a.close()

    t = threading.Thread(target=feed)
    t.start()
    try:
        return adb.read_shell_v2(b, timeout=10)
    finally:
        t.join()
        b.close()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=100), st.integers(0, 255), st.data())
def test_shell_v2_split_anywhere(out, err, rc, data):
    stream = _stream(out, err, rc)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    r = _read_through_socket(stream, cuts)
    assert (r.stdout, r.stderr, r.exit_code, r.error) == (out, err, rc, None)
    reader = P.ShellV2Reader()
    got = []
    last = 0
    for c in sorted(set(cuts)) + [len(stream)]:
        got += reader.feed(stream[last:c])
        last = c
    assert b"".join(d for k, d in got if k == P.SHELL_STDOUT) == out and reader.pending == 0


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.data())
def test_a_cut_stream_keeps_every_whole_packet_and_says_so(out, data):
    stream = _stream(out, b"", 0)
    cut = data.draw(st.integers(0, len(stream) - 1))
    r = _read_through_socket(stream[:cut], [])
    assert r.exit_code is None and "went away" in r.error
    assert out.startswith(r.stdout)
    arrived = 0                     # stdout bytes that reached us, whole packets or not
    pos = 0
    while pos + 5 < cut:
        kind, n = struct.unpack_from("<BI", stream, pos)
        if kind == P.SHELL_STDOUT:
            arrived += min(n, cut - pos - 5)
        pos += 5 + n
    assert len(r.stdout) == arrived
