"""Small Snapshot builders for the history/budget/recording tests (model classes, no device)."""
from __future__ import annotations

from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus

MiB = 1 << 20

PROCS = {
    1: Process(1, "init", ("/system/bin/init",), uid=0, fds_readable=True, maps_readable=True),
    500: Process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000, fds_readable=True,
                 maps_readable=True),
    600: Process(600, "media.codec", ("media.codec", "hw/android.hardware.media.c2@1.2-service"), uid=1046,
                 fds_readable=True, maps_readable=True),
    700: Process(700, "camera.provider", ("/vendor/bin/hw/android.hardware.camera.provider@2.7-service",),
                 uid=1047, fds_readable=True, maps_readable=True),
    1234: Process(1234, "com.example.cam", ("com.example.camera",), uid=10123, fds_readable=True,
                  maps_readable=True),
}


def buf(ino: int, size: int, tag: str = "other", exporter: str = "system", name: str | None = None,
        holders: dict[int, Holding] | None = None) -> Buffer:
    return Buffer(key=f"ino:{ino}", size=size, inode=ino, exporter=exporter, name=name,
                  holders=holders or {}, tag=tag, tag_rule="test", sources=("test",))


def fd(*fds: int) -> Holding:
    return Holding(fds=fds)


def mapped(*fds: int) -> Holding:
    return Holding(fds=fds, maps=(MapRef(0x7000, 0x8000, perms="rw-s"),))


def snap(buffers: list[Buffer], t: float = 1_700_000_000.0, procs: dict[int, Process] | None = None,
         serial: str = "TEST123", sources: dict[str, SourceStatus] | None = None, problems=()) -> Snapshot:
    return Snapshot(time=t, device=DeviceInfo(serial=serial, model="Pixel Test", sdk=34, kernel="6.1.0", uid=0),
                    buffers={b.key: b for b in buffers}, processes=dict(PROCS if procs is None else procs),
                    sources=sources if sources is not None else {"fdinfo": SourceStatus("ok"),
                                                                 "bufinfo": SourceStatus("ok")},
                    problems=tuple(problems), reported={"bufinfo.total": sum(b.size for b in buffers)},
                    origin=f"test:{serial}")


def base_buffers() -> list[Buffer]:
    return [
        buf(10, 8 * MiB, "display", "system", "framebuffer", {500: mapped(12)}),
        buf(11, 4 * MiB, "gl", "system", "gralloc", {500: fd(13), 1234: mapped(40)}),
        buf(12, 2 * MiB, "multimedia", "system", "c2 codec", {600: fd(20)}),
        buf(13, 1 * MiB, "other", "qcom,system", None, {}),
    ]


def leaking_series(n: int = 6, step: int = 2 * MiB, t0: float = 1_700_000_000.0) -> list[Snapshot]:
    """A camera app that leaks one `step`-byte buffer per sample, and a buffer it drops at sample 2
    that stays alive in the kernel (an orphan)."""
    out = []
    for i in range(n):
        bufs = base_buffers()
        for j in range(i):
            bufs.append(buf(100 + j, step, "camera", "system", "cam_preview", {1234: fd(50 + j)}))
        bufs.append(buf(90, 3 * MiB, "camera", "system", "cam_meta", {1234: fd(49)} if i < 2 else {}))
        out.append(snap(bufs, t=t0 + 5 * i))
    return out
