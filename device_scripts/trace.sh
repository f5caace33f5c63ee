#!/system/bin/sh
# droidtrack trace collector: streams the kernel's dma_buf tracepoints (Linux 7.0+: export, fd,
# get, put, mmap, mmap_internal, dynamic_attach, detach) and sched_process_exit, unread and
# uninterpreted, over ONE adb shell (docs/formats.md "dma_buf trace stream").
#
#   trace.sh --token TOKEN [--tracefs DIR] [--buffer-kb N] [--stats-every SECONDS]
#
# It traces into its own tracefs instance (instances/droidtrack.<pid>), so the global buffer and
# other tracers (Perfetto, atrace) are left alone; where tracefs has no instances directory it uses
# the top level. stdout:
#   @@TOKEN TRACE unsupported|denied REASON        and exit 0: nothing to stream
#   @@TOKEN TRACE start DIR                        the directory traced (instance or top level)
#   @@TOKEN FORMAT                                 then `print fmt` lines of every enabled event
#   @@TOKEN STREAM                                 then trace_pipe, as the kernel prints it, ending
#                                                  (when stopped) with the trace_marker line
#                                                  "tracing_mark_write: droidtrack-end-TOKEN"
#   @@TOKEN TRACE end REASON                       after the stream (stdin closed, signal, cat ended)
#   @@TOKEN STATS                                  then per_cpu/cpuN/stats lines (overrun: lost events)
# While streaming, the same STATS block goes to stderr every --stats-every seconds, so that a
# stream cut by a disconnect still says how many events the kernel dropped until then.
# It stops when stdin reaches its end (the host closed it, or adbd went away), or on HUP, INT,
# TERM, PIPE: the events are disabled and the instance removed before it exits. Instances left by
# a collector killed outright (SIGKILL) are removed by the next run.
T=
TR=
KB=1024
EVERY=1
while [ $# -gt 0 ]; do
  case $1 in
    --token) T=$2; shift ;;
    --tracefs) TR=$2; shift ;;
    --buffer-kb) KB=$2; shift ;;
    --stats-every) EVERY=$2; shift ;;
    *) echo "trace.sh: unknown argument" >&2; exit 64 ;;
  esac
  shift
done
case $T in
  ''|*[!A-Za-z0-9]*) echo "trace.sh: --token must be a non-empty alphanumeric string" >&2; exit 64 ;;
esac
case $KB$EVERY in *[!0-9]*) echo "trace.sh: --buffer-kb and --stats-every take numbers" >&2; exit 64 ;; esac
export LC_ALL=C
M="@@$T"
if [ -z "$TR" ]; then
  for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
    [ -e "$d/events" ] && { TR=$d; break; }
  done
fi
[ -n "$TR" ] && [ -e "$TR/events" ] || { echo "$M TRACE unsupported no-tracefs"; exit 0; }
[ -d "$TR/events/dma_buf" ] || { echo "$M TRACE unsupported no-dma_buf-events"; exit 0; }

# instances of droidtrack collectors that are gone (killed outright): disable and remove them
if [ -d "$TR/instances" ]; then
  for d in "$TR"/instances/droidtrack.*; do
    [ -d "$d" ] || continue
    p=${d##*/droidtrack.}
    case $p in ''|*[!0-9]*) continue ;; esac
    { kill -0 "$p" 2>/dev/null || [ -d "/proc/$p" ]; } && continue
    echo 0 > "$d/events/enable" 2>/dev/null
    rmdir "$d" 2>/dev/null
  done
  I=$TR/instances/droidtrack.$$
  mkdir "$I" 2>/dev/null || { echo "$M TRACE denied mkdir-instance"; exit 0; }
  OWN=1
else
  I=$TR
  OWN=0
fi
CAT=
TICK=
WATCH=
stats() {
  echo "$M STATS"
  grep -H -e '^overrun:' -e '^dropped events:' "$I"/per_cpu/cpu*/stats 2>/dev/null
}
cleanup() { # reason
  trap '' HUP INT TERM PIPE
  echo 0 > "$I/events/dma_buf/enable" 2>/dev/null
  [ -e "$I/events/sched/sched_process_exit/enable" ] && echo 0 > "$I/events/sched/sched_process_exit/enable" 2>/dev/null
  if [ -n "$CAT" ]; then
    # the last line the stream carries: the host knows that every event before it arrived
    echo "droidtrack-end-$T" > "$I/trace_marker" 2>/dev/null && sleep 1
    kill "$CAT" 2>/dev/null
    wait "$CAT" 2>/dev/null
  fi
  [ -n "$TICK" ] && kill "$TICK" 2>/dev/null
  [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null
  echo "$M TRACE end $1"
  stats
  [ $OWN = 1 ] && rmdir "$I" 2>/dev/null
  exit 0
}
trap 'cleanup signal' HUP INT TERM
trap 'cleanup sigpipe' PIPE
[ $OWN = 1 ] && echo "$KB" > "$I/buffer_size_kb" 2>/dev/null
echo 1 > "$I/options/record-tgid" 2>/dev/null
echo 1 > "$I/events/dma_buf/enable" 2>/dev/null || { echo "$M TRACE denied enable-events"; [ $OWN = 1 ] && rmdir "$I" 2>/dev/null; exit 0; }
[ -e "$I/events/sched/sched_process_exit/enable" ] && echo 1 > "$I/events/sched/sched_process_exit/enable" 2>/dev/null
echo "$M TRACE start $I"
echo "$M FORMAT"
grep -H '^print fmt' "$I"/events/dma_buf/*/format "$I/events/sched/sched_process_exit/format" 2>/dev/null
echo "$M STREAM"
exec 3<&0
cat "$I/trace_pipe" < /dev/null &
CAT=$!
# stdin's end (the host closed it, or adbd went away) stops the stream like a signal
# (an asynchronous list's stdin is /dev/null unless redirected: hand it the script's own, kept in 3)
# (TERM, not HUP: a shell started with a signal ignored cannot trap it, and HUP is ignored under
# nohup, INT in a background job; TERM is the one a shell is hardly ever handed ignored)
{ cat > /dev/null; kill -TERM $$ 2>/dev/null; } <&3 3<&- &
WATCH=$!
if [ "$EVERY" -gt 0 ]; then
  { while sleep "$EVERY"; do stats >&2; done; } < /dev/null &
  TICK=$!
fi
wait "$CAT"
CAT=
cleanup cat-ended
