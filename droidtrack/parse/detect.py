"""Which format is this pasted text?  `detect(text) -> [(format, confidence), ...]`.

Pasted text comes from terminals, bug reports, mails and source code: console prompts,
"# source:" notes, text wrapped in Java/C string literals, comment markers, tabs expanded to
spaces, rows cut at the end. Detection only *names* formats (most likely first, confidence in
0..1); the parsers do the reading. Each format has a few signatures — lines only that format
prints — and the confidence is a noisy-or of the signatures that matched, so one weak hint
gives a low score and several independent ones a high score. A console prompt that names the
command or path (`# cat /sys/kernel/debug/ion/heaps/system`) adds a strong hint.

`unwrap_pasted(text)` undoes string-literal wrapping (`"…\\n"` + `"…"`), drops `# source:`
lines and returns plain text that the parsers can read.

Format names: bufinfo, dmabuf_dump, dumpsys_meminfo, ion_heap, ion_client, ion_sysfs, memtrack,
memtrack_debug, fdinfo, maps, fdlinks, mali_gpu_memory, dumpsys_gpu, dmaprocs, kgsl,
dmabuf_sysfs.
"""
from __future__ import annotations

import re

# -- unwrapping -----------------------------------------------------------------------------

_LITERAL = r'"(?:[^"\\]|\\.)*"'
_LITERAL_LINE = re.compile(r'^\s*(?:[+(,]\s*)?' + _LITERAL + r'\s*(?:[+;,)]\s*)*$')
_CONCAT_LINE = re.compile(r'(?:^\s*\+\s*"|"\s*\+\s*$|"\s*;\s*$)')
_TOKEN = re.compile(r'(' + _LITERAL + r')|([A-Za-z_$][\w$.]*(?:\(\))?)|(//.*$)|(.)')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
_DECLARATION = re.compile(r'^\s*(?:(?:final|static|private|public|const|String|std::string|'
                          r'char\s*\*|auto|var|val|let)\s+)*[A-Za-z_][\w\[\]]*\s*=\s*')
_SOURCE_NOTE = re.compile(r"^\s*#\s*source:", re.IGNORECASE)


def _decode_literal(lit: str) -> str:
    body = lit[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6] or ""):
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _is_wrapped(lines: list[str]) -> bool:
    nonblank = [ln for ln in lines if ln.strip()]
    if not nonblank:
        return False
    lit = sum(1 for ln in nonblank if _LITERAL_LINE.match(ln) or _CONCAT_LINE.search(ln))
    return lit >= 3 and lit * 2 >= len(nonblank)


def unwrap_pasted(text: str) -> str:
    """Plain text from a paste: drop "# source:" notes; join Java/C string literals.

    Identifiers concatenated between literals (`" provider:" + providerPid + "\\n"`) are kept
    as their names, so the reader sees where a value was substituted at run time.
    Text that is not literal-wrapped is returned unchanged apart from the source notes, which
    become empty lines (line numbers stay those of the paste). Unwrapped literal text is
    numbered as joined, not as in the source file.
    """
    try:
        # a note becomes an empty line, so the parsers' line numbers still match the paste
        lines = ["" if _SOURCE_NOTE.match(ln) else ln for ln in str(text).split("\n")]
        if not _is_wrapped(lines):
            return "\n".join(lines)
        out: list[str] = []
        for ln in lines:
            stripped = ln.strip()
            if not stripped or stripped.startswith(("//", "/*", "*")):
                continue
            first_quote = ln.find('"')
            m = _DECLARATION.match(ln)
            if m and (first_quote < 0 or m.end() <= first_quote):
                ln = ln[m.end():]
            for tok in _TOKEN.finditer(ln):
                lit, ident, _comment, _other = tok.groups()
                if lit is not None:
                    out.append(_decode_literal(lit))
                elif ident is not None:
                    out.append(ident)
        return "".join(out)
    except Exception:  # noqa: BLE001 - never raise on a paste
        return str(text)


# -- detection ------------------------------------------------------------------------------

# (format, weight, pattern). Weights are the probability that a text matching the signature
# is that format; a signature counts once however often it matches, except the "row"
# signatures (marked with a trailing "+") whose weight grows with up to three matches.
_SIGNATURES: list[tuple[str, float, str]] = [
    # debugfs dma_buf/bufinfo
    ("bufinfo", 0.9, r"^\s*Dma-buf Objects:"),
    ("bufinfo", 0.8, r"^\s*size\s+flags\s+mode\s+count\s+exp_name"),
    ("bufinfo", 0.6, r"^\s*Attached Devices:"),
    ("bufinfo", 0.6, r"^\s*Total \d+ devices attached"),
    ("bufinfo", 0.8, r"^\s*Total \d+ objects, \d+ bytes"),
    ("bufinfo+", 0.5, r"^\s*\d{8,}\s+[0-9a-f]{8}\s+[0-9a-f]{8}\s+\d{8,}\s+\S"),
    # dmabuf_dump
    ("dmabuf_dump", 0.9, r"\bName\s+Rss\s+Pss\s+nr_procs\s+Inode"),
    ("dmabuf_dump", 0.7, r"^\s*PROCESS TOTAL\b"),
    ("dmabuf_dump", 0.95, r"dmabuf total: *\d+ kB kernel_rss:"),
    ("dmabuf_dump", 0.9, r"DMA-BUF Table buffer x process"),
    ("dmabuf_dump", 0.8, r"^\s*Dmabuf Inode \|"),
    ("dmabuf_dump", 0.9, r"DMA-BUF (per-buffer|exporter|total) stats"),
    ("dmabuf_dump", 0.9, r'^"Name","Rss\(kB\)"'),
    ("dmabuf_dump", 0.9, r"dmabuf info not found"),
    ("dmabuf_dump+", 0.4, r"^.*\s\d+ kB\s+\d+ kB\s+\d+\s+\d+\s*(\S+)?$"),
    # dumpsys meminfo
    ("dumpsys_meminfo", 0.95, r"\*\* MEMINFO in pid \d+"),
    ("dumpsys_meminfo", 0.7, r"^\s*App Summary\s*$"),
    ("dumpsys_meminfo", 0.8, r"^\s*(Native Heap|Dalvik Heap|Dalvik Other)\s+\d+"),
    ("dumpsys_meminfo", 0.7, r"^\s*(EGL mtrack|GL mtrack|Gfx dev|Other mtrack)\s+\d+"),
    ("dumpsys_meminfo", 0.9, r"Total [PR]SS by (process|category|OOM adjustment):"),
    ("dumpsys_meminfo", 0.6, r"^\s*(Total|Free|Used|Lost) RAM:\s+[\d,.]+K"),
    ("dumpsys_meminfo", 0.8, r"^\s*DMA-BUF( Heaps?)?( pool)?:\s+[\d,.]+K"),
    ("dumpsys_meminfo", 0.7, r"^\s*[\d,.]+K: (EGL mtrack|GL mtrack|Other mtrack|Gfx dev)"),
    ("dumpsys_meminfo", 0.9, r"Applications Memory Usage"),
    ("dumpsys_meminfo", 0.6, r"^\s*(Java Heap|Private Other|Graphics):\s+\d+"),
    # ION debugfs
    ("ion_heap", 0.8, r"^\s*client\s+pid\s+size\s*$"),
    ("ion_heap", 0.95, r"orphaned allocations \(info is from last known client\)"),
    ("ion_heap", 0.7, r"^\s*total orphaned\s+\d+"),
    ("ion_heap", 0.6, r"^\s*deferred free\s+\d+"),
    ("ion_heap", 0.7, r"order \d+ \w*\s*pages\s+in \w+ pool = \d+ total"),
    ("ion_heap", 0.6, r"^\s*client\s+pid\s+user\s+user_pid\s+size"),
    ("ion_client", 0.8, r"^\s*heap_name:\s+size_in_bytes"),
    ("ion_sysfs", 0.9, r"/sys/kernel/(ion/total_(heaps|pools)_kb|dma_heap/total_pools_kb)"),
    # memtrack RFC
    ("memtrack", 0.95, r"ref_count:\s+Identifier:\s+size:\s+tag:"),
    ("memtrack", 0.6, r"startAddr-endAddr:"),
    ("memtrack_debug", 0.9, r"^\s*pid\s+buffer_size\s+ref\s+Identifier\s+tag"),
    # fdinfo / maps / fd links
    ("fdinfo", 0.5, r"^\s*pos:\s+\d+\s*$"),
    ("fdinfo", 0.4, r"^\s*flags:\s+0\d+\s*$"),
    ("fdinfo", 0.5, r"^\s*mnt_id:\s+\d+\s*$"),
    ("fdinfo", 0.3, r"^\s*ino:\s+\d+\s*$"),
    ("fdinfo", 0.8, r"^\s*exp_name:\s+\S"),
    ("fdinfo", 0.3, r"^\s*size:\s+\d+\s*$"),
    ("fdinfo", 0.3, r"^\s*count:\s+\d+\s*$"),
    ("maps+", 0.5, r"^\s*[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][sp] [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+"),
    ("maps", 0.4, r"^\s*[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][sp] .*(/dmabuf|anon_inode:dmabuf)"),
    ("fdlinks+", 0.5, r"\d+ -> (/dmabuf|anon_inode:dmabuf|anon_inode:sync_file|socket:|pipe:|/dev/)"),
    # GPU
    ("mali_gpu_memory", 0.7, r"^\s*mali\d+\s+\d+\s*$"),
    ("mali_gpu_memory+", 0.6, r"^\s*kctx-0x[0-9a-fA-F]+\s+(\d+|pid:)"),
    ("mali_gpu_memory", 0.6, r"native memory overall:"),
    ("dumpsys_gpu", 0.9, r"Memory snapshot for GPU \d+:"),
    ("dumpsys_gpu", 0.6, r"^\s*Global total: (\d+|N/A)"),
    ("dumpsys_gpu+", 0.6, r"^\s*Proc \d+ total: \d+"),
    ("dumpsys_gpu", 0.9, r"GPU memory (total usage map is|usage maps are) empty"),
    ("kgsl+", 0.7, r"/sys/class/kgsl/kgsl/proc/\d+/"),
    ("kgsl", 0.5, r"/sys/class/kgsl/kgsl/(page_alloc|vmalloc|coherent|secure|mapped)"),
    # dumpsys SurfaceFlinger: its gralloc tables
    ("dumpsys_surfaceflinger", 0.9, r"^\s*GraphicBufferAllocator buffers:\s*$"),
    ("dumpsys_surfaceflinger", 0.9, r"^\s*Imported gralloc buffers:\s*$"),
    ("dumpsys_surfaceflinger", 0.8, r"^\s*Total (allocated by GraphicBufferAllocator|imported by gralloc)"),
    # vendor dmaprocs
    ("dmaprocs+", 0.8, r"\(PID \d+\) size: \d+ kB\s*$"),
    ("dmaprocs", 0.6, r"^\s*DMA Buffers:\s*$"),
    ("dmaprocs", 0.7, r"^\s*ino\s+size\s+count\s+flags\s+mode\s+exp_name"),
    # dma-buf sysfs stats (grep -H output)
    ("dmabuf_sysfs+", 0.7, r"/sys/kernel/dmabuf/buffers/\d+/(size|exporter_name)"),
]

_COMPILED = [(fmt.rstrip("+"), fmt.endswith("+"), w, re.compile(rx, re.MULTILINE))
             for fmt, w, rx in _SIGNATURES]

# A console prompt line that names what was run: "root@x:/ # cat /d/dma_buf/bufinfo",
# "$ adb shell dumpsys meminfo", "... /sys/kernel/debug/ion/heaps # cat system".
_PROMPT = re.compile(r"^.{0,120}?[#$>]\s*(?:adb(?:\s+-s\s+\S+)?\s+shell\s+)?(?:su\s+(?:0|root)?\s*(?:-c\s+)?)?"
                     r"(?P<cmd>cat|dumpsys|dmabuf_dump|grep|ls|head|tail|more|less)\b(?P<args>[^\n]*)$",
                     re.MULTILINE)
_COMMAND_HINTS: list[tuple[str, str]] = [
    ("bufinfo", r"dma_buf/bufinfo"),
    ("dmaprocs", r"dmaprocs|vivo_dma_buf|osvelte/dma_buf/procinfo|dma_buf/procinfo"),
    ("ion_heap", r"ion/heaps"),
    ("ion_client", r"ion/clients"),
    ("ion_sysfs", r"total_(heaps|pools)_kb"),
    ("memtrack", r"/proc/\S+/memtrack"),
    ("memtrack_debug", r"debug/memtrack"),
    ("fdinfo", r"/fdinfo"),
    ("maps", r"/maps\b"),
    ("mali_gpu_memory", r"gpu_memory"),
    ("kgsl", r"kgsl"),
    ("dmabuf_sysfs", r"kernel/dmabuf/buffers"),
]
_PROMPT_WORD_HINTS = {"dumpsys meminfo": "dumpsys_meminfo", "dumpsys gpu": "dumpsys_gpu",
                      "dumpsys SurfaceFlinger": "dumpsys_surfaceflinger",
                      "dmabuf_dump": "dmabuf_dump"}
# the prompt's own directory counts too ("... /sys/kernel/debug/ion/heaps # cat system")
_PROMPT_DIR = re.compile(r"^.{0,120}?(?P<dir>/\S*)\s*[#$]\s*(?:cat|ls)\b", re.MULTILINE)


def _command_hints(text: str) -> dict[str, float]:
    hints: dict[str, float] = {}
    for m in _PROMPT.finditer(text):
        full = f"{m.group('cmd')}{m.group('args')}"
        for words, fmt in _PROMPT_WORD_HINTS.items():
            if full.startswith(words):
                hints[fmt] = 0.8
        for fmt, rx in _COMMAND_HINTS:
            if re.search(rx, full):
                hints[fmt] = max(hints.get(fmt, 0.0), 0.7)
    for m in _PROMPT_DIR.finditer(text):
        for fmt, rx in _COMMAND_HINTS:
            if re.search(rx, m.group("dir")):
                hints[fmt] = max(hints.get(fmt, 0.0), 0.5)
    return hints


def detect(text: str) -> list[tuple[str, float]]:
    """Formats the text may be, most likely first, with a confidence in (0, 1).

    An empty list means nothing recognisable. Several entries are normal for a paste that
    holds more than one output (a bugreport excerpt, a debugging session).
    """
    try:
        return _detect(str(text))
    except Exception:  # noqa: BLE001 - detection must never break a paste
        return []


# Detection reads the head of a paste: enough for any output's headers and first rows, and
# bounded time on a pasted bugreport.
MAX_DETECT_CHARS = 2_000_000


def _detect(text: str) -> list[tuple[str, float]]:
    text = text[:MAX_DETECT_CHARS]
    # very long lines are cut: no signature needs more than the start of a line
    text = "\n".join(ln[:1024] for ln in text.split("\n"))
    plain = unwrap_pasted(text)
    # strip comment markers a paste from source code may carry ("// ", "* ", "/* ")
    plain = re.sub(r"^[ \t]*(?://+|/\*+|\*+/?)[ \t]?", "", plain, flags=re.MULTILINE)
    miss: dict[str, float] = {}
    for fmt, is_row, weight, rx in _COMPILED:
        hits = 0
        for _ in rx.finditer(plain):
            hits += 1
            if hits >= 3 or not is_row:
                break
        if not hits:
            continue
        p_not = (1.0 - weight) ** hits
        miss[fmt] = miss.get(fmt, 1.0) * p_not
    for fmt, weight in _command_hints(plain).items():
        miss[fmt] = miss.get(fmt, 1.0) * (1.0 - weight)
    scores = {fmt: round(min(0.99, 1.0 - m), 3) for fmt, m in miss.items()}
    # a dmabuf_dump or dmaprocs table row also looks like a maps/fdinfo fragment: when the
    # structural format is clear, the fragment guesses are demoted
    if scores.get("dmaprocs", 0) >= 0.8 and "bufinfo" in scores:
        scores["bufinfo"] = round(scores["bufinfo"] * 0.5, 3)
    ranked = sorted(((f, s) for f, s in scores.items() if s > 0), key=lambda fs: (-fs[1], fs[0]))
    return ranked
