"""Format detection of pasted text: every real sample, the constructed outputs of the other
parsers' tests, pastes with prompts and wrapping, and arbitrary text."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from droidtrack.parse.detect import detect, unwrap_pasted

SAMPLES = Path(__file__).parent / "data"   # public samples (each file says where it came from)
DATA = Path(__file__).parent / "data"


def top(text):
    found = detect(text)
    assert found, "nothing detected"
    return found[0][0]


@pytest.mark.parametrize("name,fmt", [
    ("dmabuf_dump_default_java_fixture_lyric.txt", "dmabuf_dump"),
    ("dumpsys_meminfo_pkg_egl_gl_mtrack_android8.txt", "dumpsys_meminfo"),
    ("dumpsys_meminfo_system_tail_dmabuf_crossbench.txt", "dumpsys_meminfo"),
    ("ion_heaps_system_msm8998_allocator_blog.txt", "ion_heap"),
    ("mali_gpu_memory_realtek_comment.txt", "mali_gpu_memory"),
    ("dumpsys_surfaceflinger_gralloc_pixel_blog.txt", "dumpsys_surfaceflinger"),
])
def test_real_samples(name, fmt):
    path = DATA / name
    found = detect(path.read_text())
    assert found[0][0] == fmt and found[0][1] >= 0.8
    # nothing else comes close
    assert all(score < 0.5 for f, score in found[1:])


@pytest.mark.parametrize("name,fmt", [
    ("bufinfo_aosp_dmabufinfo_test_qcom_ion.txt", "bufinfo"),
    ("bufinfo_linux_4.12_fence_debugging_patch_etnaviv.txt", "bufinfo"),
    ("proc_fd_and_fdinfo_dmabuf_android16_qcom_notes.txt", "fdinfo"),
])
def test_shared_samples_of_other_parsers(name, fmt):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("shared sample not present")
    assert top(path.read_text()) == fmt


CONSTRUCTED = {
    "dmaprocs": "\nsurfaceflinger (PID 612) size: 8104 kB\nDMA Buffers:\n"
                "ino     \tsize    \tcount   \tflags     \tmode      \texp_name\n"
                "00000082\t8100    \t4       \t0x00000002\t0x00080007\tqcom,system\tx\n",
    "memtrack": " ref_count:       Identifier:         size:          tag:    startAddr-endAddr:"
                " Flags:    pgOff: pid:1234\n         1                 3         65536  GL\n",
    "memtrack_debug": " pid  buffer_size        ref   Identifier tag\n 612      8294400          2"
                      "            0 sf\n",
    "dumpsys_gpu": "Memory snapshot for GPU 0:\nGlobal total: 268435456\nProc 1234 total: 1048576\n",
    "kgsl": "/sys/class/kgsl/kgsl/proc/1234/kernel:4096\n/sys/class/kgsl/kgsl/proc/1234/user:0\n",
    "ion_client": "       heap_name:    size_in_bytes\n          system:          8294400\n",
    "maps": "7f00000000-7f00010000 rw-s 00000000 00:08 82 /dmabuf:qcom,system\n"
            "7f00100000-7f00108000 rw-s 00000000 00:08 83 /dmabuf:\n",
    "dmabuf_sysfs": "/sys/kernel/dmabuf/buffers/82/size:8294400\n"
                    "/sys/kernel/dmabuf/buffers/82/exporter_name:qcom,system\n",
    "fdinfo": "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t82\nsize:\t8294400\ncount:\t2\n"
              "exp_name:\tqcom,system\nname:\tGL\n",
}


@pytest.mark.parametrize("fmt", sorted(CONSTRUCTED))
def test_constructed(fmt):
    assert top(CONSTRUCTED[fmt]) == fmt


def test_prompt_names_the_file():
    text = "root@dev:/ # cat /sys/kernel/debug/ion/heaps/system\n  something 1 2\n"
    assert top(text) == "ion_heap"
    text = "$ adb shell dumpsys gpu --gpumem\nGPU memory usage maps are empty\n"
    assert top(text) == "dumpsys_gpu"


def test_junk_around_and_two_outputs():
    dump = (DATA / "dumpsys_meminfo_system_tail_dmabuf_crossbench.txt").read_text()
    text = "hey, here is my output!!\n\n" + dump + "\n\nthanks\n" + CONSTRUCTED["dumpsys_gpu"]
    found = dict(detect(text))
    assert found["dumpsys_meminfo"] >= 0.8 and found["dumpsys_gpu"] >= 0.8


def test_nothing_recognisable():
    assert detect("") == []
    assert detect("hello world\nthis is not a memory dump\n") == []


def test_unwrap_pasted_java_literals():
    java = ('        String s =\n'
            '                " surfaceflinger:"\n'
            '                        + pid\n'
            '                        + "\\n"\n'
            '                        + "  a \\"quoted\\" \\\\ name\\t"\n'
            '                        + "x\\n";\n')
    assert unwrap_pasted(java) == ' surfaceflinger:pid\n  a "quoted" \\ name\tx\n'
    # plain text passes through; "# source:" notes become empty lines (numbering kept)
    assert unwrap_pasted("# source: somewhere\na + \"b\"\n") == '\na + "b"\n'


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    out = detect(text)
    assert all(0 < s < 1 for _, s in out)
    assert isinstance(unwrap_pasted(text), str)
