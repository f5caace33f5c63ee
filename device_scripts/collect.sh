#!/system/bin/sh
# droidtrack collector: reads every dma-buf/ION/GPU accounting source a device offers and prints
# them, unread and uninterpreted, as one framed stream on stdout (see docs/capture-format.md).
#
#   collect.sh --token TOKEN [--root DIR] [--tmp DIR] [--dumpsys] [--dmabuf-dump]
#              [--fd-inodes auto|always|never] [--package PKG]... [--procs-only]
#
# --package PKG (user builds): after the shell's own pass, the per-process part is read again as
# that app, by `run-as PKG sh -s` fed this script on stdin (an app may not read /data/local/tmp),
# in the app's data directory: a "run-as pass" framed as PASS, the inner stream, PASSERR,
# run-as's stderr, PASSEND rc=N (docs/capture-format.md). --procs-only is that inner run: only
# the processes whose /proc directory the reader owns, only the per-process sections.
# --focus: the shell's own pass reads no process's fd or maps (fdlinks, maps and smaps are
# "skipped"): only the run-as passes do, for the apps asked for (top/check --package).
#
# Portable: POSIX sh as found in Android's mksh, dash and busybox sh, with toybox (or busybox)
# applets only. It spawns a constant number of processes however many processes the device runs
# (bulk grep -H, head and ls -n over globs and path lists, never a fork per pid, no command
# substitution); the shell itself only expands globs and reads its own temporary files with `read`.
#
# Rules this file keeps (tests/test_collector*.py check them under mksh, dash and busybox sh):
# - Device text (names, paths below a pid, file contents) reaches stdout only through `cat`,
#   `grep`, `head` or `ls`, never through echo/print: mksh's and dash's echo interpret
#   backslashes and mksh has no builtin printf. echo prints only markers, the token, numbers and
#   the root.
# - Every temporary file is "$TMPD/.droidtrack.<pid>.*" and all are removed, also on a signal.
#   One is a symbolic link to ROOT/proc whose name holds the token ($TP): the many small /proc
#   files (dma-buf fdinfo, status, cmdline) are read through it by `head`, which prints a
#   "==> PATH <==" line before each file instead of grep's path before every line. Since no
#   file can hold the token, no file's content can spell such a header.
# - The shell works in TMPD (so that those paths are short): a relative --root or --tmp is made
#   absolute first.
# - Applet options, and what Android's older toybox (0.7.x, Android 9-10) may lack:
#   ls -n, -1 -q, -i -L (fdstat only); sed -n; grep -H -E -e -r -A -l; head -n with several files (old and stable;
#   every head run gets the empty "$TP.e" first, so that it prints headers even for an xargs
#   chunk of one path); ln -s; xargs -s, -0 (-0 only for smaps with a --root holding characters
#   outside [A-Za-z0-9/._,+@%=:-]).
T=
ROOT=
TMPD=
DUMPSYS=0
DMABUF_DUMP=0
FDI=auto
PKGS=
ONLY=0
FOCUS=0
while [ $# -gt 0 ]; do
  case $1 in
    --token) T=$2; shift ;;
    --root) ROOT=$2; shift ;;
    --tmp) TMPD=$2; shift ;;
    --dumpsys) DUMPSYS=1 ;;
    --dmabuf-dump) DMABUF_DUMP=1 ;;
    --fd-inodes) FDI=$2; shift ;;
    --package)
      case $2 in
        ''|*[!A-Za-z0-9._]*) echo "collect.sh: --package takes a package name" >&2; exit 64 ;;
      esac
      PKGS="$PKGS $2"; shift ;;
    --procs-only) ONLY=1 ;;
    --focus) FOCUS=1 ;;
    *) echo "collect.sh: unknown argument" >&2; exit 64 ;;
  esac
  shift
done
case $T in
  ''|*[!A-Za-z0-9]*) echo "collect.sh: --token must be a non-empty alphanumeric string" >&2; exit 64 ;;
esac
case $FDI in
  auto|always|never) ;;
  *) echo "collect.sh: --fd-inodes takes auto, always or never" >&2; exit 64 ;;
esac
ROOT=${ROOT%/}
[ -n "$TMPD" ] || TMPD=${TMPDIR:-/data/local/tmp}
# this script, for the run-as passes' stdin (the shell leaves for TMPD below)
case $0 in /*) SELF=$0 ;; *) SELF=${PWD%/}/$0 ;; esac
# the shell works in TMPD (below)
case $ROOT in ''|/*) ;; *) ROOT=${PWD%/}/$ROOT ;; esac
case $TMPD in /*) ;; *) TMPD=${PWD%/}/$TMPD ;; esac
# the root is echoed (HDR line, path lists): refuse what echo would change or split
case $ROOT in
  *\\*|*'
'*) echo "collect.sh: --root must not contain a backslash or a newline" >&2; exit 64 ;;
esac
W=$TMPD/.droidtrack.$$
# ROOT/proc as seen through the symbolic link (relative to TMPD), and as a regular expression
TP=.droidtrack.$$.$T
TPE=\\.droidtrack\\.$$\\.$T
P=$ROOT/proc
NL='
'
# xargs splits its input on blanks and (busybox) quotes: a root with such characters goes NUL-separated
ODD=0
case $ROOT in *[!A-Za-z0-9/._,+@%=:-]*) ODD=1 ;; esac
export LC_ALL=C
TMPDIR=$TMPD
export TMPDIR
unset CDPATH

# (true, not ':': a failed redirection of a special builtin would end the shell)
cd "$TMPD" 2>/dev/null && true 2>/dev/null > "$W.err" || {
  echo "collect.sh: cannot write temporary files in --tmp" >&2; exit 65; }
trap 'rm -f "$W".*; exit 129' HUP INT TERM PIPE
# What a collector killed outright (SIGKILL: no trap runs) left in TMPD: remove the files of
# collectors that are gone (kill -0 fails and there is no /proc entry: another uid's live
# collector answers one of the two). The glob, case, test and kill are builtins: one rm, and only
# when something is stale.
set --
for f in .droidtrack.*; do
  p=${f#.droidtrack.}; p=${p%%.*}
  case $p in ''|*[!0-9]*) continue ;; esac
  [ "$p" = "$$" ] && continue
  { kill -0 "$p" 2>/dev/null || [ -d "/proc/$p" ]; } && continue
  set -- "$@" "$f"
done
[ $# -eq 0 ] || rm -rf "$@" 2>/dev/null
EI=0
if [ $ODD -eq 1 ]; then
  # does this shell's echo interpret backslash escapes? (paths echoed hold no backslash)
  echo 'a\0101' > "$W.t"
  IFS= read -r x < "$W.t"
  [ "$x" = aA ] && EI=1
fi
# a run-as pass reads only the processes it owns: ROOT becomes a directory whose proc/ holds a
# link to each of their /proc directories (one find, one ln), so that every glob below sees them only
DEV=0
[ -z "$ROOT" ] && DEV=1
if [ $ONLY -eq 1 ]; then
  id -u > "$W.u" 2>/dev/null
  U=
  IFS= read -r U < "$W.u"
  case $U in ''|*[!0-9]*) rm -f "$W".*; echo "collect.sh: id -u failed" >&2; exit 65 ;; esac
  find "$P/" -mindepth 1 -maxdepth 1 -type d -user "$U" -name '[0-9]*' > "$W.pids" 2>/dev/null
  mkdir "$W.r" "$W.r/proc" || { rm -f "$W".*; echo "collect.sh: cannot make a directory in --tmp" >&2; exit 65; }
  set --
  while IFS= read -r x; do
    case ${x##*/} in ''|*[!0-9]*) ;; *) set -- "$@" "$x" ;; esac
  done < "$W.pids"
  [ $# -eq 0 ] || ln -s "$@" "$W.r/proc/" 2>/dev/null
  ROOT=$TMPD/.droidtrack.$$.r
  P=$ROOT/proc
  trap 'rm -rf "$W".*; exit 129' HUP INT TERM PIPE
fi
# the token path to ROOT/proc ("$W.$T" is "$TP" in TMPD), and the empty file every head run starts with
ln -s "$P" "$W.$T" 2>/dev/null && true 2>/dev/null > "$W.$T.e" || {
  rm -rf "$W".*; echo "collect.sh: cannot make a symbolic link in --tmp" >&2; exit 65; }

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
  # xargs exits 123 when some grep or head run exited 1 (grep: no line, e.g. an empty file;
  # head: a file it could not read) or 2 (an error)
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
# -s 1300000: one grep for up to 1.3 MB of smaps paths (at least 14 bytes each). xargs counts
# only the bytes of the strings, the kernel also 8 per pointer against its 2 MiB limit (8 MiB
# stack); busybox's default is 128 KiB.
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

# plist PATH...: appends the paths, one per line, to the head list "$W.hl" (an unmatched glob,
# i.e. a first path that does not exist, adds nothing). They are "$TP/<name>/file" for the names
# in ROOT/proc matching [0-9]*: on a device pids; in an offline tree a name with any other
# character is left out (xargs would split it), so the common case is one echo of all of them.
plist() {
  [ -e "$1" ] || return 0
  IFS=
  case "$*" in
    *[!A-Za-z0-9/._-]*)
      IFS=" 	$NL"
      for x; do
        case $x in *[!A-Za-z0-9/._-]*) ;; *) echo "$x" ;; esac
      done >> "$W.hl" ;;
    *) IFS=$NL; echo "$*" >> "$W.hl" ;;
  esac
  IFS=" 	$NL"
}

echo "@@$T HDR v=2 proc=$TP root=$ROOT"

# ---- identity ---------------------------------------------------------------------------
PROPS=
if [ $ONLY -eq 1 ]; then
  :
elif [ -z "$ROOT" ] && command -v getprop >/dev/null 2>&1; then
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
# maps: which processes map a dma-buf (a VMA line whose path is /dmabuf… or anon_inode:dmabuf;
# one extended expression anchored at the line start is much cheaper per line than two floating
# patterns). grep -l names each such maps file once, and stops reading it at its first match:
# the VMA lines themselves come with their Rss and Pss from smaps, read below.
MAPRE='^[0-9a-f]+-[0-9a-f]+ .* (/dmabuf|anon_inode:dmabuf)'
set -- "$P"/[0-9]*/maps
: > "$W.maps"; : > "$W.mpe"; : > "$W.sml"
MP=missing; mprc=2
if [ $FOCUS -eq 1 ]; then
  MP=skipped; mprc=0
elif [ -e "$1" ]; then
  grep -l -E "$MAPRE" "$@" > "$W.maps" 2>"$W.mpe"; mprc=$?
  st $mprc $# "$W.mpe"; MP=$S
fi
# fdlinks: `ls -n` (numeric owners: no user lookups, fewer writes) over every fd directory,
# through the token path; a link line ends "<fd> -> <target>", the target /dmabuf… (5.3+) or
# anon_inode:dmabuf (older kernels).
set -- "$TP"/[0-9]*/fd/
: > "$W.ls"; : > "$W.lse"; : > "$W.hl"
LS=missing; lsrc=2
if [ $FOCUS -eq 1 ]; then
  LS=skipped; lsrc=0
elif [ -e "$1" ]; then
  # with a single directory ls prints no "dir:" header: give it the empty "$TP.e" too (ls
  # lists files before directories; the host drops that first line)
  [ $# -eq 1 ] && set -- "$TP.e" "$1"
  ls -n "$@" > "$W.ls" 2>"$W.lse"; lsrc=$?
  st $lsrc $# "$W.lse"; LS=$S
fi
# One sed turns both listings into the two path lists (the shell's read builtin would take a
# system call per byte and microseconds per line over megabytes):
#   head list: "$TP/<pid>/fdinfo/<fd>" for each dma-buf link and each DRM device link (/dev/dri/…:
#              its fdinfo has the client's GPU memory), <pid> from the last header line
#              "$TP/<pid>/fd:" (busybox: "fd/:") before it;
#   smaps:     "ROOT/proc/<pid>/smaps" for each "ROOT/proc/<pid>/maps" grep named, read only
#              after the line holding the token that separates the two listings.
# ls prints link targets raw, so a buffer name holding newlines can spell any line, but not a
# header (they hold the token) nor the separator: at worst it adds an fdinfo path of its own
# process, which head prints under its true name. Lines starting with "l" are links. No
# subexpressions (regexec's slow path); basic regular expressions only (toybox, busybox, GNU).
echo "$T" > "$W.sep"
if [ -s "$W.ls" ] || [ -s "$W.maps" ]; then
  # hold space: "$TP/<pid>/fdinfo/" while the fd listing is read, "M:" after the separator
  sed -n \
    -e "/^$TPE\\/[0-9][0-9]*\\/fd\\/\\{0,1\\}:\$/{" -e 's/fd\/\{0,1\}:$/fdinfo\//' -e h -e d -e '}' \
    -e '/^l/!b other' \
    -e '/ -> \/dmabuf/b link' -e '/ -> anon_inode:dmabuf$/b link' -e '/ -> \/dev\/dri\//b link' -e d \
    -e ':link' -e 's/ -> .*$//' -e 's/^.* //' -e '/^[0-9][0-9]*$/!d' \
    -e H -e x -e 's/\n//' -e "w $W.hl" -e 's/\/[0-9]*$/\//' -e x -e d \
    -e ':other' -e "/^$T\$/{" -e 's/.*/M:/' -e h -e d -e '}' \
    -e x -e '/^M:/!{' -e x -e d -e '}' -e x \
    -e 's/\/maps$/\/smaps/' -e "w $W.sml" -e d \
    "$W.ls" "$W.sep" "$W.maps" 2>/dev/null
fi

# the two sections, offline the props file and the debugfs bufinfo with their markers, in one
# cat: BEGIN, content, newline, [STDERR, bytes, newline], END (markers hold only the token, names
# and numbers, so echo writes them); bufinfo is last, its END follows the cat
echo "@@$T BEGIN fdlinks" > "$W.m1"
if [ -s "$W.lse" ]; then { echo; echo "@@$T STDERR fdlinks"; } > "$W.m2"; else : > "$W.m2"; fi
{ echo; echo "@@$T END fdlinks rc=$lsrc status=$LS"; echo "@@$T BEGIN maps"; } > "$W.m3"
if [ -s "$W.mpe" ]; then { echo; echo "@@$T STDERR maps"; } > "$W.m4"; else : > "$W.m4"; fi
{ echo; echo "@@$T END maps rc=$mprc status=$MP"; } > "$W.m5"
B=$ROOT/sys/kernel/debug/dma_buf/bufinfo
[ -e "$B" ] || { [ -e "$ROOT/d/dma_buf/bufinfo" ] && B=$ROOT/d/dma_buf/bufinfo; }
D=$ROOT/sys/kernel/debug
if [ -e "$B" ]; then
  echo "@@$T BEGIN bufinfo" > "$W.m6"
  set -- "$W.m1" "$W.ls" "$W.m2" "$W.lse" "$W.m3" "$W.maps" "$W.m4" "$W.mpe" "$W.m5" "$W.m6" "$B"
else
  set -- "$W.m1" "$W.ls" "$W.m2" "$W.lse" "$W.m3" "$W.maps" "$W.m4" "$W.mpe" "$W.m5"
fi
if [ -n "$PROPS" ]; then
  { echo "@@$T BEGIN props"; } > "$W.m0"
  { echo; echo "@@$T END props rc=0 status=ok"; } > "$W.m00"
  set -- "$W.m0" "$PROPS" "$W.m00" "$@"
fi
cat "$@" 2>"$W.err"; rc=$?
if [ -e "$B" ]; then
  # (the temporary files read fine: an error is bufinfo's)
  st $rc 1; end bufinfo $rc $S
elif [ $ONLY -eq 1 ]; then
  :
else
  begin bufinfo
  if [ -d "$D" ] && { [ ! -r "$D" ] || [ ! -x "$D" ]; }; then end bufinfo 2 denied; else end bufinfo 2 missing; fi
fi

# ---- the BPF dma-buf iterator (Linux 6.16+; AOSP pins it on 6.18+ kernels) ------------------
# Reading the pinned link runs the program over every dma-buf: four lines per buffer (inode,
# size, name, exporter). Only where a bpf filesystem directory exists (every Android device since
# 9 mounts one; elsewhere the section is absent); there the file is handed to cat even when the
# shell cannot see it (SELinux hides it from stat as well as from open), so that cat's own error
# says `denied` or `missing`: one process, only on such devices.
if [ -d "$ROOT/sys/fs/bpf" ]; then
  begin dmabuf_iter
  cat "$ROOT/sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf" 2>"$W.err"; rc=$?
  st $rc 1; end dmabuf_iter $rc $S
fi

# ---- small /proc files by head: dma-buf fdinfo, status, cmdline ---------------------------
# One section, "procfiles": the head list holds the fdinfo paths (sed, above), then every status,
# proc/self/status last among them (on a device head's own: the collector's uid), then every
# cmdline. head prints each file whole under "==> $TP/<pid>/<file> <==", a newline before every
# header but a run's first; the host splits it by path.
set -- "$TP"/[0-9]*/status; plist "$@"
set -- "$TP"/self/status; plist "$@"
set -- "$TP"/[0-9]*/cmdline; plist "$@"
begin procfiles
if [ -s "$W.hl" ]; then
  # -s: the paths are at least 30 bytes (".droidtrack.1.<token>/1/status" with a token of 8
  # characters; the host's has 24), so with the kernel's 8 bytes per pointer 1.6 MB of them stay
  # below its 2 MiB limit (8 MiB stack). env (which execs head: no process more): busybox's xargs
  # runs its head applet inside itself, which clobbers the paths it has read for the next run
  # (busybox 1.35: "749/fdinfo/15" became "749/fo/15").
  xargs -s 1600000 env head -n 100000000 "$TP.e" < "$W.hl" 2>"$W.err"; rc=$?
  st $rc 0 "$W.err" "$W.hl"; end procfiles $rc $S
else
  end procfiles 2 missing
fi

# ---- smaps of the processes mapping dma-bufs ---------------------------------------------
# ---- fdstat: the inode of every fd, where fdinfo names no inode ------------------------------
# Kernels 5.3 to 5.13 (without ACK's backport of fdinfo's ino:) give each dma-buf an inode of its
# own but print it in no per-fd file: stat(2) through /proc/PID/fd/N is the only way to it
# (libdmabufinfo's fallback too). `ls -i -L -n` over the fd directories stats every fd: one more
# process, only when needed. auto: on a device (a --root tree's links point nowhere) and when the
# first dma-buf fdinfo that can be read has exp_name: and no ino:, read with builtins only.
noino() {
  k=0
  while [ $k -lt 8 ] && IFS= read -r f; do
    k=$((k + 1))
    case $f in */fdinfo/*) ;; *) return 1 ;; esac
    e=0; i=0; r=0
    { while IFS= read -r l; do
        r=1
        case $l in exp_name:*) e=1 ;; ino:*) i=1 ;; esac
      done < "$f"; } 2>/dev/null
    [ $r -eq 1 ] || continue
    [ $e -eq 1 ] || continue      # a DRM device's fdinfo (listed too): says nothing about dma-bufs
    [ $i -eq 0 ] && return 0
    return 1
  done < "$W.hl"
  return 1
}
if [ "$FDI" = always ] || { [ "$FDI" = auto ] && [ $DEV -eq 1 ] && [ -s "$W.hl" ] && noino; }; then
  begin fdstat
  set -- "$TP"/[0-9]*/fd/
  if [ -e "$1" ]; then
    [ $# -eq 1 ] && set -- "$TP.e" "$1"
    ls -i -L -n "$@" 2>"$W.err"; rc=$?
    st $rc $#; end fdstat $rc $S
  else
    end fdstat 2 missing
  fi
fi

begin smaps
if [ -s "$W.sml" ]; then
  # the VMA line and the 5 lines after it reach Rss and Pss on every kernel (4.9: Size, Rss,
  # Pss; later: Size, KernelPageSize, MMUPageSize, Rss, Pss)
  xgrep "$W.sml" -H -E -A 5 "$MAPRE" 2>"$W.err"; rc=$?
  st $rc 0 "$W.err" "$W.sml"; end smaps $rc $S
else
  case $MP in denied|missing|error|skipped) end smaps $mprc $MP ;; *) end smaps 0 ok ;; esac
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

if [ $ONLY -eq 1 ]; then
  :
else
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

# ---- memory cgroups: does dma-heap charge them (Linux 7.0+: dma_heap.mem_accounting)? -------
# Only where the parameter exists. When it reads Y, the system heap's pages are in the `kernel`
# figure of the allocating cgroup's memory.stat: the root cgroup's (where the kernel has one)
# and each top-level cgroup v2 directory's (hierarchical: their descendants' too) come with it.
# One grep; the value is read by the shell (builtin read) only to choose the files.
MA=$ROOT/sys/module/dma_heap/parameters/mem_accounting
if [ -e "$MA" ]; then
  begin memcg
  a=
  { IFS= read -r a < "$MA"; } 2>/dev/null
  set --
  case $a in
    Y*|1*)
      set -- "$ROOT"/sys/fs/cgroup/*/memory.stat
      [ -e "$1" ] || set --
      [ -e "$ROOT/sys/fs/cgroup/memory.stat" ] && set -- "$ROOT/sys/fs/cgroup/memory.stat" "$@" ;;
  esac
  grep -H -a -E '^([YN01]$|kernel )' "$MA" "$@" 2>"$W.err"; rc=$?
  st $rc $(($# + 1)); end memcg $rc $S
fi
fi

# ---- run-as passes: the per-process part again, as each app (user builds) ------------------
# (run-as works in the app's data directory, where the inner run keeps its temporary files)
for k in $PKGS; do
  echo "@@$T PASS run-as $k"
  if [ $DEV -eq 1 ]; then set --; else set -- --root "$ROOT"; fi
  run-as "$k" sh -s -- --token "$T" --tmp . --procs-only "$@" < "$SELF" 2>"$W.pe"; rc=$?
  echo
  echo "@@$T PASSERR run-as $k"
  cat "$W.pe"
  echo
  echo "@@$T PASSEND run-as $k rc=$rc"
done

# ---- slow framework dumps, only when asked ------------------------------------------------
if [ $DUMPSYS -eq 1 ]; then
  begin dumpsys_meminfo
  dumpsys meminfo 2>"$W.err"; rc=$?; st $rc 0; end dumpsys_meminfo $rc $S
  begin dumpsys_gpu
  dumpsys gpu --gpumem 2>"$W.err"; rc=$?; st $rc 0; end dumpsys_gpu $rc $S
  # SurfaceFlinger's gralloc tables name who asked for each graphics buffer (owner evidence);
  # the shell user may run it, so it works on user builds too
  begin dumpsys_surfaceflinger
  dumpsys SurfaceFlinger 2>"$W.err"; rc=$?; st $rc 0; end dumpsys_surfaceflinger $rc $S
  # each --package's own memtrack rows (Graphics, GL mtrack, EGL mtrack: the memtrack HAL)
  for k in $PKGS; do
    begin "dumpsys_meminfo:$k"
    dumpsys meminfo "$k" 2>"$W.err"; rc=$?; st $rc 0; end "dumpsys_meminfo:$k" $rc $S
  done
fi
if [ $DMABUF_DUMP -eq 1 ]; then
  begin dmabuf_dump
  dmabuf_dump 2>"$W.err"; rc=$?; st $rc 0; end dmabuf_dump $rc $S
fi

trap - HUP INT TERM PIPE
rm -rf "$W".*
echo "@@$T DONE"
