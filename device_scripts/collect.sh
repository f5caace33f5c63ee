#!/system/bin/sh
# droidtrack collector: reads every dma-buf/ION/GPU accounting source a device offers and prints
# them, unread and uninterpreted, as one framed stream on stdout (see docs/capture-format.md).
#
#   collect.sh --token TOKEN [--root DIR] [--tmp DIR] [--dumpsys] [--dmabuf-dump]
#
# Portable: POSIX sh as found in Android's mksh, dash and busybox sh, with toybox applets only.
# It spawns a constant number of processes however many processes the device runs (bulk grep -H
# and ls -l over globs, never a fork per pid); the shell itself only expands globs and reads its
# own temporary files with builtins.
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
    *) echo "collect.sh: unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done
case $T in
  ''|*[!A-Za-z0-9]*) echo "collect.sh: --token must be a non-empty alphanumeric string" >&2; exit 64 ;;
esac
ROOT=${ROOT%/}
[ -n "$TMPD" ] || TMPD=${TMPDIR:-/data/local/tmp}
W=$TMPD/.droidtrack.$$
P=$ROOT/proc
export LC_ALL=C

# One framed section: BEGIN line, raw bytes, a newline, [STDERR marker + bytes + newline], END.
begin() {
  echo "@@$T BEGIN $1"
}
end() { # section rc status
  if [ -s "$W.err" ]; then
    echo
    echo "@@$T STDERR $1"
    cat "$W.err"
  fi
  echo
  echo "@@$T END $1 rc=$2 status=$3"
  : > "$W.err"
}
# status from an exit code and the stderr file: ok | partial | denied | missing | error
st() { # rc
  if [ "$1" -le 1 ] && [ ! -s "$W.err" ]; then echo ok; return; fi
  if [ -s "$W.err" ] && [ "$1" -le 2 ]; then
    # something was read and something was not
    echo partial; return
  fi
  echo error
}

: > "$W.err" 2>/dev/null || { echo "collect.sh: cannot write temporary files in $TMPD" >&2; exit 65; }
echo "@@$T HDR v=1 root=$ROOT"

# ---- identity -------------------------------------------------------------------------
begin props
if [ -z "$ROOT" ] && command -v getprop >/dev/null 2>&1; then
  getprop 2>"$W.err"; rc=$?; end props $rc "$(st $rc)"
elif [ -r "$ROOT/system/build.prop" ]; then
  # offline trees carry the properties as build.prop-style key=value lines
  cat "$ROOT/system/build.prop" 2>"$W.err"; rc=$?; end props $rc "$(st $rc)"
else
  end props 1 missing
fi

# ---- per-process: fd links (which fds are dma-bufs) -----------------------------------
set -- "$P"/[0-9]*/fd/
if [ -e "$1" ]; then
  # with a single directory ls prints no "dir:" header: name it twice so it always does
  [ $# -eq 1 ] && set -- "$1" "$1"
  ls -l "$@" > "$W.ls" 2>"$W.err"; rc=$?
  begin fdlinks
  cat "$W.ls"
  end fdlinks $rc "$(st $rc)"
  # the fdinfo paths of the dma-buf fds, found with builtins only
  d=; prev=
  while IFS= read -r l; do
    case $l in
      */fd/:|*/fd:) d=${l%:}; d=${d%/}; d=${d%/fd}
        # the doubled single directory: read its fdinfo once
        if [ "$d" = "$prev" ]; then d=; else prev=$d; fi ;;
      *' -> /dmabuf'*|*' -> anon_inode:dmabuf'*)
        f=${l%% -> *}; f=${f##* }
        case $f in *[!0-9]*|'') ;; *) [ -n "$d" ] && echo "$d/fdinfo/$f" ;; esac ;;
    esac
  done < "$W.ls" > "$W.fdl"
  begin fdinfo
  if [ -s "$W.fdl" ]; then
    xargs grep -H '' < "$W.fdl" 2>"$W.err"; rc=$?
    end fdinfo $rc "$(st $rc)"
  else
    end fdinfo 0 ok
  fi
else
  begin fdlinks; end fdlinks 2 missing
  begin fdinfo; end fdinfo 2 missing
fi

# ---- per-process: dma-buf mappings, then smaps of the processes that have any --------
set -- "$P"/[0-9]*/maps
if [ -e "$1" ]; then
  grep -H -e ' /dmabuf' -e ' anon_inode:dmabuf' "$@" > "$W.maps" 2>"$W.err"; rc=$?
  begin maps
  cat "$W.maps"
  end maps $rc "$(st $rc)"
  last=
  while IFS= read -r l; do
    m=${l%%/maps:*}
    [ "$m" = "$last" ] || { echo "$m/smaps"; last=$m; }
  done < "$W.maps" > "$W.sml"
  begin smaps
  if [ -s "$W.sml" ]; then
    # the VMA header line and the 7 lines after it reach Rss and Pss on every kernel
    xargs grep -H -A 7 -e ' /dmabuf' -e ' anon_inode:dmabuf' < "$W.sml" 2>"$W.err"; rc=$?
    end smaps $rc "$(st $rc)"
  else
    end smaps 0 ok
  fi
else
  begin maps; end maps 2 missing
  begin smaps; end smaps 2 missing
fi

# ---- per-process: identity -------------------------------------------------------------
set -- "$P"/[0-9]*/status
begin status
if [ -e "$1" ]; then
  [ -e "$P/self/status" ] && set -- "$@" "$P/self/status"
  grep -H -e '^Name:' -e '^Tgid:' -e '^PPid:' -e '^Uid:' "$@" 2>"$W.err"; rc=$?
  end status $rc "$(st $rc)"
else
  end status 2 missing
fi
set -- "$P"/[0-9]*/cmdline
begin cmdline
if [ -e "$1" ]; then
  # NUL-terminated records "path:arg": argv elements may hold any byte but NUL
  grep -H -a -z '' "$@" 2>"$W.err"; rc=$?
  end cmdline $rc "$(st $rc)"
else
  end cmdline 2 missing
fi

# ---- every small file and sysfs/debugfs tree, in one grep ------------------------------
# Lines come out as "path:line"; the host tells the sources apart by path.
set --
for f in "$P"/[0-9]*/oom_score_adj "$P"/[0-9]*/memtrack "$P"/[0-9]*/dmabuf_rss \
         "$P"/[0-9]*/dmabuf_rss_hwm "$P"/[0-9]*/dmabuf_pss \
         "$P/sys/kernel/osrelease" "$P/version" "$P/mounts" "$P/meminfo" "$P/self/attr/current" \
         "$ROOT/sys/kernel/dmabuf/buffers" "$ROOT/sys/kernel/ion" "$ROOT/sys/kernel/dma_heap" \
         "$ROOT/sys/kernel/debug/ion" "$ROOT/sys/kernel/debug/memtrack" \
         "$ROOT"/sys/kernel/debug/mali*/gpu_memory "$ROOT/sys/class/kgsl/kgsl/proc" \
         "$ROOT/sys/kernel/debug/dma_buf/dmaprocs" "$ROOT/sys/kernel/debug/vivo_dma_buf/dmaprocs" \
         "$ROOT/proc/osvelte/dma_buf/procinfo" "$ROOT/sys/kernel/gpu/gpu_busy"; do
  [ -e "$f" ] && set -- "$@" "$f"
done
begin files
if [ $# -gt 0 ]; then
  grep -r -H -a '' "$@" 2>"$W.err"; rc=$?
  end files $rc "$(st $rc)"
else
  end files 2 missing
fi

begin dma_heap_devs
for f in "$ROOT"/dev/dma_heap/*; do
  [ -e "$f" ] && echo "${f##*/}"
done
if [ -d "$ROOT/dev/dma_heap" ]; then end dma_heap_devs 0 ok; else end dma_heap_devs 2 missing; fi

# ---- debugfs bufinfo: every buffer the kernel has --------------------------------------
begin bufinfo
B=$ROOT/sys/kernel/debug/dma_buf/bufinfo
[ -e "$B" ] || { [ -e "$ROOT/d/dma_buf/bufinfo" ] && B=$ROOT/d/dma_buf/bufinfo; }
if [ -e "$B" ]; then
  cat "$B" 2>"$W.err"; rc=$?
  end bufinfo $rc "$(st $rc)"
elif [ -d "$ROOT/sys/kernel/debug" ] && [ ! -r "$ROOT/sys/kernel/debug" ]; then
  end bufinfo 2 denied
else
  end bufinfo 2 missing
fi

# ---- slow framework dumps, only when asked --------------------------------------------
if [ $DUMPSYS -eq 1 ]; then
  begin dumpsys_meminfo
  dumpsys meminfo 2>"$W.err"; rc=$?; end dumpsys_meminfo $rc "$(st $rc)"
  begin dumpsys_gpu
  dumpsys gpu --gpumem 2>"$W.err"; rc=$?; end dumpsys_gpu $rc "$(st $rc)"
fi
if [ $DMABUF_DUMP -eq 1 ]; then
  begin dmabuf_dump
  dmabuf_dump 2>"$W.err"; rc=$?; end dmabuf_dump $rc "$(st $rc)"
fi

rm -f "$W.err" "$W.ls" "$W.fdl" "$W.maps" "$W.sml"
echo "@@$T DONE"
