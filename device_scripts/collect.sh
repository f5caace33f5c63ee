#!/system/bin/sh
# droidtrack collector: reads every dma-buf/ION/GPU accounting source a device offers and prints
# them, unread and uninterpreted, as one framed stream on stdout (see docs/capture-format.md).
#
#   collect.sh --token TOKEN [--root DIR] [--tmp DIR] [--dumpsys] [--dmabuf-dump]
#
# Portable: POSIX sh as found in Android's mksh, dash and busybox sh, with toybox (or busybox)
# applets only. It spawns a constant number of processes however many processes the device runs
# (bulk grep -H and ls -l over globs, never a fork per pid, no command substitution); the shell
# itself only expands globs and reads its own temporary files with `read`.
#
# Rules this file keeps (tests/test_collector*.py check them under mksh, dash and busybox sh):
# - Device text (names, paths below a pid, file contents) reaches stdout only through `cat`,
#   `grep` or `ls`, never through echo/print: mksh's and dash's echo interpret backslashes and
#   mksh has no builtin printf. echo prints only markers, the token, numbers and the root.
# - Every temporary file is "$TMPD/.droidtrack.<pid>.*" and all are removed, also on a signal.
# - Applet options, and what Android's older toybox (0.7.x, Android 9-10) may lack:
#   ls -l, -1 -q (old and stable); sed -n -r (-r rather than the newer POSIX spelling -E);
#   grep -H -e -r -A (old and stable); grep -a -z (-z, NUL
#   records, is not known to exist in toybox 0.7.x: if grep rejects it, cmdline is read again
#   without -a -z, which gives newline-terminated lines with NULs between argv elements);
#   xargs -0 (old; only for a --root holding characters outside [A-Za-z0-9/._,+@%=:-]).
T=
ROOT=
TMPD=
DUMPSYS=0
DMABUF_DUMP=0
while [ $# -gt 0 ]; do
  case $1 in
    --token) T=$2; shift ;;
    --root) ROOT=$2; shift ;;
    --tmp) TMPD=$2; shift ;;
    --dumpsys) DUMPSYS=1 ;;
    --dmabuf-dump) DMABUF_DUMP=1 ;;
    *) echo "collect.sh: unknown argument" >&2; exit 64 ;;
  esac
  shift
done
case $T in
  ''|*[!A-Za-z0-9]*) echo "collect.sh: --token must be a non-empty alphanumeric string" >&2; exit 64 ;;
esac
# the root is echoed (HDR line, path lists): refuse what echo would change or split
case $ROOT in
  *\\*|*'
'*) echo "collect.sh: --root must not contain a backslash or a newline" >&2; exit 64 ;;
esac
ROOT=${ROOT%/}
[ -n "$TMPD" ] || TMPD=${TMPDIR:-/data/local/tmp}
W=$TMPD/.droidtrack.$$
P=$ROOT/proc
# xargs splits its input on blanks and (busybox) quotes: a root with such characters goes NUL-separated
ODD=0
case $ROOT in *[!A-Za-z0-9/._,+@%=:-]*) ODD=1 ;; esac
export LC_ALL=C
TMPDIR=$TMPD
export TMPDIR

# (true, not ':': a failed redirection of a special builtin would end the shell)
true 2>/dev/null > "$W.err" || { echo "collect.sh: cannot write temporary files in --tmp" >&2; exit 65; }
trap 'rm -f "$W".*; exit 129' HUP INT TERM PIPE
EI=0
if [ $ODD -eq 1 ]; then
  # does this shell's echo interpret backslash escapes? (paths echoed hold no backslash)
  echo 'a\0101' > "$W.t"
  IFS= read -r x < "$W.t"
  [ "$x" = aA ] && EI=1
fi

# ---- framing helpers (builtins only) ----------------------------------------------------
begin() {
  echo "@@$T BEGIN $1"
}
end() { # section rc status: closes a section whose content went straight to stdout
  if [ -s "$W.err" ]; then
    echo
    echo "@@$T STDERR $1"
    cat "$W.err"
  fi
  echo
  echo "@@$T END $1 rc=$2 status=$3"
  : > "$W.err"
}
# st RC NARGS [ERRFILE [LIST]]: sets S to ok | partial | denied | missing | error from an exit
# code, the stderr the command wrote and the number of paths it was given (0 when not counted;
# LIST: the file listing them, one per line).
st() {
  e=${3:-$W.err}
  S=ok
  r=$1
  # xargs exits 123 when some grep run exited 1 (no line: an empty file) or 2 (an error)
  [ "$r" -eq 123 ] && r=2
  if [ ! -s "$e" ]; then
    case $1 in 0|1|123) ;; *) S=error ;; esac
    return 0
  fi
  nd=0; nm=0; no=0
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in
      *': Permission denied') nd=$((nd + 1)) ;;
      *': No such file or directory') nm=$((nm + 1)) ;;
      *) no=$((no + 1)) ;;
    esac
  done < "$e"
  n=$2
  if [ -n "$4" ] && [ $no -eq 0 ]; then
    # the paths are listed in a file: count its lines, only as far as the errors go
    n=0
    while [ $n -le $((nd + nm)) ] && IFS= read -r x; do n=$((n + 1)); done < "$4"
  fi
  if [ $no -eq 0 ] && [ "$n" -gt 0 ] && [ $((nd + nm)) -ge "$n" ]; then
    # nothing at all could be read
    if [ $nd -gt 0 ]; then S=denied; else S=missing; fi
  elif [ "$r" -le 2 ]; then
    S=partial
  else
    S=error
  fi
}
# badopt [ERRFILE]: true when the last command rejected an option (an older toybox, busybox)
badopt() {
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in *[Uu]nknown\ option*|*[Ii]nvalid\ option*|*[Uu]sage:*) return 0 ;; esac
  done < "${1:-$W.err}"
  return 1
}
# xgrep LIST ARGS...: grep ARGS over the paths listed one per line in LIST (never empty).
# xargs splits its input on blanks (busybox also on quotes); with a root holding such
# characters the list goes NUL-separated, written by the shell itself (toybox has no tr on
# every system): mksh's and dash's echo turn "\0" into NUL, busybox has a builtin printf.
# -s 1300000: one grep for up to 1.3 MB of paths (some 54,000 fdinfo paths on a device). xargs
# counts only the bytes of the strings, the kernel also 8 per pointer against its 2 MiB limit
# (8 MiB stack); busybox's default is 128 KiB.
xgrep() {
  xl=$1; shift
  if [ $ODD -eq 1 ]; then
    while IFS= read -r x; do
      if [ $EI -eq 1 ]; then echo -n "$x\0"; else printf '%s\0' "$x"; fi
    done < "$xl" > "$xl.0"
    xargs -0 -s 1300000 grep "$@" < "$xl.0"
  else
    xargs -s 1300000 grep "$@" < "$xl"
  fi
}

echo "@@$T HDR v=1 root=$ROOT"

# ---- identity ---------------------------------------------------------------------------
PROPS=
if [ -z "$ROOT" ] && command -v getprop >/dev/null 2>&1; then
  begin props
  getprop 2>"$W.err"; rc=$?; st $rc 0; end props $rc $S
elif [ -r "$ROOT/system/build.prop" ]; then
  # offline trees carry the properties as build.prop-style key=value lines; printed below
  # by the cat that prints fdlinks and maps
  PROPS=$ROOT/system/build.prop
else
  begin props; end props 1 missing
fi

# ---- per-process fd links and dma-buf mappings: gathered first, printed by one cat --------
# maps: the dma-buf lines of every process's maps.
set -- "$P"/[0-9]*/maps
: > "$W.maps"; : > "$W.mpe"; : > "$W.sml"
MP=missing; mprc=2
if [ -e "$1" ]; then
  grep -H -e ' /dmabuf' -e ' anon_inode:dmabuf' "$@" > "$W.maps" 2>"$W.mpe"; mprc=$?
  st $mprc $# "$W.mpe"; MP=$S
fi
# fdlinks: `ls -l` over every fd directory; a link line ends "<fd> -> <target>", the target
# /dmabuf… (5.3+) or anon_inode:dmabuf (older kernels).
set -- "$P"/[0-9]*/fd/
: > "$W.ls"; : > "$W.lse"; : > "$W.fdl"
LS=missing; lsrc=2; LONE=0
if [ -e "$1" ]; then
  # with a single directory ls prints no "dir:" header: name it twice so it always does
  [ $# -eq 1 ] && { set -- "$1" "$1"; LONE=1; }
  ls -l "$@" > "$W.ls" 2>"$W.lse"; lsrc=$?
  st $lsrc $# "$W.lse"; LS=$S
fi
# One sed turns both listings into the two path lists (the shell's read builtin would take a
# system call per byte and microseconds per line over megabytes):
#   fdinfo: "<dir>/fdinfo/<fd>" for each dma-buf link, <dir> from the last header line
#           "ROOT/proc/<pid>/fd:" (busybox: "fd/:") before it;
#   smaps:  "ROOT/proc/<pid>/smaps" once per process with a dma-buf mapping (a maps line cut at
#           its first "/maps:").
# ls prints link targets raw, so a buffer name holding newlines can spell a fake header or link
# line. Every real header still resets the directory, so a fake one only moves the rest of its
# own process's links (to paths that grep then reads and prints as they are); it cannot take
# another process's links. Lines starting with an ls mode string are links; the lone directory's
# second listing (LONE) is skipped. Basic regular expressions only (toybox, busybox, GNU).
if [ -s "$W.ls" ] || [ -s "$W.maps" ]; then
  # (no subexpressions but one short back-reference per maps line: regexec's slow path)
  set -- -n \
    -e '/^l[-rwxsStT]\{9\}/!b notlink' \
    -e 's/ -> /\n/' -e '/\n\/dmabuf/b link' -e '/\nanon_inode:dmabuf$/b link' -e d \
    -e ':link' -e 's/\n.*$//' -e 's/^.* //' -e '/^[0-9][0-9]*$/!d' -e 'b fd' \
    -e ':notlink' \
    -e '/\/maps:[0-9a-f][0-9a-f]*-[0-9a-f][0-9a-f]* /b map' \
    -e '/\/[0-9][0-9]*\/fd\/\{0,1\}:$/!d' \
    -e 's/\/\{0,1\}:$//' -e 's/\/fd$/\/fdinfo\//' -e 's/^/D:/'
  [ $LONE -eq 1 ] && set -- "$@" -e G -e '/^\(D:.*\)\n\1$/{' -e 's/.*/X:/' -e h -e d -e '}' -e 's/\n.*$//'
  # hold space: "D:<dir>/fdinfo/" while a listing is read, then "M:<pid>" for maps
  set -- "$@" -e h -e d \
    -e ':fd' -e H -e x -e '/^D:/!{' -e 's/\n.*$//' -e x -e d -e '}' \
    -e h -e 's/^D://' -e 's/\n//' -e "w $W.fdl" -e x -e 's/\n.*$//' -e h -e d \
    -e ':map' -e 's/\/maps:.*$//' -e G -e '/\/\([0-9][0-9]*\)\nM:\1$/d' \
    -e 's/\n.*$//' -e h -e 's/^.*\//M:/' -e x -e 's/$/\/smaps/' -e "w $W.sml" -e d
  sed "$@" "$W.ls" "$W.maps" 2>/dev/null
fi

# the two sections (and offline the props file) with their markers, in one cat: BEGIN, content, newline, [STDERR, bytes,
# newline], END (markers hold only the token, names and numbers, so echo writes them)
echo "@@$T BEGIN fdlinks" > "$W.m1"
if [ -s "$W.lse" ]; then { echo; echo "@@$T STDERR fdlinks"; } > "$W.m2"; else : > "$W.m2"; fi
{ echo; echo "@@$T END fdlinks rc=$lsrc status=$LS"; echo "@@$T BEGIN maps"; } > "$W.m3"
if [ -s "$W.mpe" ]; then { echo; echo "@@$T STDERR maps"; } > "$W.m4"; else : > "$W.m4"; fi
{ echo; echo "@@$T END maps rc=$mprc status=$MP"; } > "$W.m5"
if [ -n "$PROPS" ]; then
  { echo "@@$T BEGIN props"; } > "$W.m0"
  { echo; echo "@@$T END props rc=0 status=ok"; } > "$W.m00"
  cat "$W.m0" "$PROPS" "$W.m00" "$W.m1" "$W.ls" "$W.m2" "$W.lse" "$W.m3" "$W.maps" "$W.m4" "$W.mpe" "$W.m5"
else
  cat "$W.m1" "$W.ls" "$W.m2" "$W.lse" "$W.m3" "$W.maps" "$W.m4" "$W.mpe" "$W.m5"
fi

# ---- fdinfo of the dma-buf fds, smaps of the processes mapping dma-bufs --------------------
begin fdinfo
if [ -s "$W.fdl" ]; then
  xgrep "$W.fdl" -H '' 2>"$W.err"; rc=$?
  st $rc 0 "$W.err" "$W.fdl"; end fdinfo $rc $S
else
  # nothing to read: as good as the listing it came from
  case $LS in denied|missing|error) end fdinfo $lsrc $LS ;; *) end fdinfo 0 ok ;; esac
fi
begin smaps
if [ -s "$W.sml" ]; then
  # the VMA header line and the 7 lines after it reach Rss and Pss on every kernel
  xgrep "$W.sml" -H -A 7 -e ' /dmabuf' -e ' anon_inode:dmabuf' 2>"$W.err"; rc=$?
  st $rc 0 "$W.err" "$W.sml"; end smaps $rc $S
else
  case $MP in denied|missing|error) end smaps $mprc $MP ;; *) end smaps 0 ok ;; esac
fi

# ---- per-process identity ----------------------------------------------------------------
set -- "$P"/[0-9]*/status
begin status
if [ -e "$1" ]; then
  # proc/self/status last: on a device it is grep's own, i.e. the collector's uid
  [ -e "$P/self/status" ] && set -- "$@" "$P/self/status"
  grep -H -e '^Name:' -e '^Tgid:' -e '^PPid:' -e '^Uid:' "$@" 2>"$W.err"; rc=$?
  st $rc $#; end status $rc $S
else
  end status 2 missing
fi
set -- "$P"/[0-9]*/cmdline
begin cmdline
if [ -e "$1" ]; then
  # NUL-terminated records "path:arg": argv elements may hold any byte but NUL
  grep -H -a -z '' "$@" 2>"$W.err"; rc=$?
  if [ $rc -ne 0 ] && badopt; then
    grep -H '' "$@" 2>"$W.err"; rc=$?
  fi
  st $rc $#; end cmdline $rc $S
else
  end cmdline 2 missing
fi

# ---- every small file and sysfs/debugfs tree, in one grep --------------------------------
# Lines come out as "path:line"; the host tells the sources apart by path. The command line is
# built from code fragments of this script (globs over "$P"/"$ROOT", never their values) and
# expanded once by eval: appending thousands of paths to "$@" one by one is quadratic.
G=
for g in '"$P"/[0-9]*/oom_score_adj' '"$P"/[0-9]*/memtrack' '"$P"/[0-9]*/dmabuf_rss' \
         '"$P"/[0-9]*/dmabuf_rss_hwm' '"$P"/[0-9]*/dmabuf_pss' \
         '"$P/sys/kernel/osrelease"' '"$P/version"' '"$P/mounts"' '"$P/meminfo"' '"$P/self/attr/current"' \
         '"$ROOT/sys/kernel/dmabuf/buffers"' '"$ROOT/sys/kernel/ion"' '"$ROOT/sys/kernel/dma_heap"' \
         '"$ROOT/sys/kernel/debug/ion"' '"$ROOT/sys/kernel/debug/memtrack"' \
         '"$ROOT"/sys/kernel/debug/mali*/gpu_memory' '"$ROOT/sys/class/kgsl/kgsl/proc"' \
         '"$ROOT/sys/kernel/debug/dma_buf/dmaprocs"' '"$ROOT/sys/kernel/debug/vivo_dma_buf/dmaprocs"' \
         '"$ROOT/proc/osvelte/dma_buf/procinfo"' '"$ROOT/sys/kernel/gpu/gpu_busy"'; do
  eval "set -- $g"
  [ -e "$1" ] && G="$G $g"
done
begin files
if [ -n "$G" ]; then
  eval "set -- $G"
  grep -r -H -a '' "$@" 2>"$W.err"; rc=$?
  st $rc $#; end files $rc $S
else
  end files 2 missing
fi

begin dma_heap_devs
if [ -d "$ROOT/dev/dma_heap" ]; then
  # heap names are device text: listed by ls, not echoed
  ls -1 -q "$ROOT/dev/dma_heap" 2>"$W.err"; rc=$?
  # a rejected option prints nothing on stdout: list again without it
  if [ $rc -ne 0 ] && badopt; then
    ls -1 "$ROOT/dev/dma_heap" 2>"$W.err"; rc=$?
  fi
  st $rc 1; end dma_heap_devs $rc $S
else
  end dma_heap_devs 2 missing
fi

# ---- debugfs bufinfo: every buffer the kernel has ----------------------------------------
begin bufinfo
B=$ROOT/sys/kernel/debug/dma_buf/bufinfo
[ -e "$B" ] || { [ -e "$ROOT/d/dma_buf/bufinfo" ] && B=$ROOT/d/dma_buf/bufinfo; }
D=$ROOT/sys/kernel/debug
if [ -e "$B" ]; then
  cat "$B" 2>"$W.err"; rc=$?
  st $rc 1; end bufinfo $rc $S
elif [ -d "$D" ] && { [ ! -r "$D" ] || [ ! -x "$D" ]; }; then
  end bufinfo 2 denied
else
  end bufinfo 2 missing
fi

# ---- slow framework dumps, only when asked ------------------------------------------------
if [ $DUMPSYS -eq 1 ]; then
  begin dumpsys_meminfo
  dumpsys meminfo 2>"$W.err"; rc=$?; st $rc 0; end dumpsys_meminfo $rc $S
  begin dumpsys_gpu
  dumpsys gpu --gpumem 2>"$W.err"; rc=$?; st $rc 0; end dumpsys_gpu $rc $S
fi
if [ $DMABUF_DUMP -eq 1 ]; then
  begin dmabuf_dump
  dmabuf_dump 2>"$W.err"; rc=$?; st $rc 0; end dmabuf_dump $rc $S
fi

trap - HUP INT TERM PIPE
rm -f "$W".*
echo "@@$T DONE"
