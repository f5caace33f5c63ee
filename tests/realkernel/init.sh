#!/bin/busybox sh
# /init of the realkernel initramfs (built by tests/realkernel/vm.py).
#
# Mounts proc, sysfs, devtmpfs and debugfs (not with dt.debugfs=0), pins our BPF dma-buf iterator
# (dt.bpf=1: bpffs, bpftool iter pin at AOSP's path), loads vgem and its dependencies, starts the scenario,
# runs droidtrack's collector under busybox sh and under mksh with toybox applets, and sends every
# result out over the second serial port (/dev/ttyS1) as base64 between marker lines:
#   @@@DT-FILE <name>            then base64 lines, then
#   @@@DT-END <name> <bytes> rc=<exit code>
# and finally "@@@DT-DONE". The kernel command line carries the collector token (dt.token=...)
# and the shells to run it under (dt.shells=busybox,mksh); dt.vgem=0 skips vgem, dt.odd=1 adds
# the scenario's odd-name buffers; dt.owners=1 then runs the ownership scenario (owners.c): a
# collection with both apps running, and one after an app exited (mksh + toybox); dt.trace=1
# then runs device_scripts/trace.sh (mksh + toybox) and, once it streams, the lifetime workload
# (lifetimes.c); the trace stops when its stdin ends, as when adbd closes it.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

OUT=/dev/ttyS1
TOKEN=
SHELLS=busybox
VGEM=1
ODD=
BPF=0
DEBUGFS=1
OWNERS=0
TRACE=0
MEMCG=0
for w in $(cat /proc/cmdline); do
  case $w in
    dt.token=*) TOKEN=${w#dt.token=} ;;
    dt.shells=*) SHELLS=$(echo "${w#dt.shells=}" | tr , ' ') ;;
    dt.vgem=0) VGEM=0 ;;
    dt.odd=1) ODD=--odd-names ;;
    dt.bpf=1) BPF=1 ;;
    dt.debugfs=0) DEBUGFS=0 ;;
    dt.owners=1) OWNERS=1 ;;
    dt.trace=1) TRACE=1 ;;
    dt.memcg=[12]) MEMCG=${w#dt.memcg=} ;;
  esac
done
# debugfs (bufinfo) as on a userdebug build, or not at all as on a user build
[ $DEBUGFS = 1 ] && mount -t debugfs debugfs /sys/kernel/debug

send() { # name file rc
  echo "@@@DT-FILE $1" > $OUT
  base64 < "$2" > $OUT
  echo "@@@DT-END $1 $(wc -c < "$2") rc=$3" > $OUT
}
note() { echo "$*" >> /tmp/log.txt; }
finish() {
  dmesg > /tmp/dmesg.txt
  send dmesg /tmp/dmesg.txt 0
  send log /tmp/log.txt 0
  echo "@@@DT-DONE" > $OUT
  sync
  poweroff -f
}
: > /tmp/log.txt
note "uname $(uname -r)"

if [ $VGEM = 1 ]; then
  for m in $(cat /modules/modules.order); do
    insmod /modules/$m 2>>/tmp/log.txt || { note "FAIL insmod $m"; finish; }
  done
  n=0
  while [ ! -e /dev/dri/card0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
  [ -e /dev/dri/card0 ] || { note "FAIL no /dev/dri/card0 after loading vgem"; finish; }
  SCEN_ARGS=
else
  SCEN_ARGS=--no-vgem
fi

if [ $BPF = 1 ]; then
  # our BPF dma-buf iterator, pinned where AOSP pins its own (bpftool loads, attaches, pins)
  mount -t bpf bpf /sys/fs/bpf || { note "FAIL mount bpf"; finish; }
  mkdir -p /sys/fs/bpf/dmabuf
  LD_LIBRARY_PATH= /bin/bpftool iter pin /dmabuf_iter.bpf.o /sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf \
    >> /tmp/log.txt 2>&1 || { note "FAIL bpftool iter pin"; finish; }
  note "bpf iterator pinned"
fi
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
[ -d /sys/kernel/tracing/events/dma_buf ] && note "tracepoints dma_buf: $(ls /sys/kernel/tracing/events/dma_buf | tr '\n' ' ')"
[ -d /sys/kernel/dmabuf/buffers ] && note "sysfs stats present"

# dt.memcg=1 (with dma_heap.mem_accounting=1): cgroup v2 with the memory controller, and this
# shell (so the scenario and the collectors) in a top-level cgroup "dt"; dt.memcg=2 leaves them
# in the root cgroup (an empty "dt" beside them)
if [ $MEMCG != 0 ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup || { note "FAIL mount cgroup2"; finish; }
  echo +memory > /sys/fs/cgroup/cgroup.subtree_control || { note "FAIL enable the memory controller"; finish; }
  mkdir /sys/fs/cgroup/dt || { note "FAIL make cgroup dt"; finish; }
  [ $MEMCG = 1 ] && { echo $$ > /sys/fs/cgroup/dt/cgroup.procs || { note "FAIL enter cgroup dt"; finish; }; }
  note "mem_accounting $(cat /sys/module/dma_heap/parameters/mem_accounting 2>&1)"
  [ -e /sys/fs/cgroup/memory.stat ] && note "root memory.stat present"
fi
/bin/dt_scenario --out /tmp/expected.json $SCEN_ARGS $ODD 2>>/tmp/log.txt &
SCEN=$!
n=0
while [ ! -e /tmp/expected.json ] && [ $n -lt 300 ]; do
  kill -0 $SCEN 2>/dev/null || break
  sleep 0.05; n=$((n+1))
done
if [ ! -e /tmp/expected.json ]; then note "FAIL scenario did not write its expected answer"; finish; fi
send expected.json /tmp/expected.json 0

for s in $SHELLS; do
  case $s in
    busybox)
      /bin/sh /collect.sh --token "$TOKEN" --tmp /tmp > /tmp/cap.$s 2> /tmp/cap.$s.err; rc=$? ;;
    mksh)
      # Android's shell with toybox applets only on PATH
      # (--fd-inodes always: stat every fd too, to check that fallback against the kernel's ino:)
      PATH=/toybox/bin /bin/mksh /collect.sh --token "$TOKEN" --tmp /tmp --fd-inodes always > /tmp/cap.$s 2> /tmp/cap.$s.err; rc=$? ;;
    *) note "unknown shell $s"; continue ;;
  esac
  send capture.$s /tmp/cap.$s $rc
  send capture.$s.stderr /tmp/cap.$s.err 0
done

kill $SCEN
wait $SCEN
note "scenario exit $?"

waitfile() { # file pid
  n=0
  while [ ! -e "$1" ] && [ $n -lt 300 ]; do
    kill -0 $2 2>/dev/null || break
    sleep 0.05; n=$((n+1))
  done
  [ -e "$1" ]
}
if [ $OWNERS = 1 ]; then
  /bin/dt_owners --out1 /tmp/owners1.json --go /tmp/owners.go --out2 /tmp/owners2.json 2>>/tmp/log.txt &
  OWN=$!
  for phase in 1 2; do
    [ $phase = 2 ] && : > /tmp/owners.go
    waitfile /tmp/owners$phase.json $OWN || { note "FAIL owners scenario wrote no owners$phase.json"; finish; }
    send owners$phase.json /tmp/owners$phase.json 0
    PATH=/toybox/bin /bin/mksh /collect.sh --token "$TOKEN" --tmp /tmp > /tmp/own.cap 2> /tmp/own.err
    send capture.owners$phase /tmp/own.cap $?
    send capture.owners$phase.stderr /tmp/own.err 0
  done
  kill $OWN
  wait $OWN
  note "owners scenario exit $?"
fi
# trace_run NAME BUFFER_KB WORKLOAD_ARGS...: trace.sh (mksh + toybox) while dt_lifetimes runs;
# sends NAME.out, NAME.err and NAME.json (the workload's log). dt.trace=1 runs it twice: the
# lifetime workload, and 3000 buffers against an 8 KiB buffer whose reader is stopped (overrun)
trace_run() {
  name=$1 kb=$2
  shift 2
  T=/sys/kernel/tracing
  rm -f /tmp/trace.stop /tmp/$name.out
  { while [ ! -e /tmp/trace.stop ]; do sleep 0.1; done; } | \
    PATH=/toybox/bin /bin/mksh /trace.sh --token "$TOKEN" --buffer-kb $kb > /tmp/$name.out 2> /tmp/$name.err &
  TRC=$!
  n=0
  while ! grep -q -e "^@@$TOKEN STREAM" -e "^@@$TOKEN TRACE [ud]" /tmp/$name.out 2>/dev/null && [ $n -lt 200 ]; do
    sleep 0.05; n=$((n+1))
  done
  if grep -q "^@@$TOKEN STREAM" /tmp/$name.out; then
    note "trace instance $(ls $T/instances | tr '\n' ' ')"
    # STALL=1: the reader (cat trace_pipe) is stopped while the workload runs, as a reader that
    # cannot keep up: the ring buffer overruns
    R=
    if [ "$STALL" = 1 ]; then
      for p in /proc/[0-9]*; do
        grep -q trace_pipe $p/cmdline 2>/dev/null && R="$R ${p#/proc/}"
      done
      note "stalling reader [$R], buffer_size_kb $(cat $T/instances/*/buffer_size_kb)"
      [ -n "$R" ] && kill -STOP $R
    fi
    /bin/dt_lifetimes --out /tmp/$name.json "$@" 2>>/tmp/log.txt || note "FAIL lifetimes workload $name"
    [ -n "$R" ] && kill -CONT $R
    sleep 1
  fi
  : > /tmp/trace.stop
  wait $TRC
  note "trace $name exit $?"
  note "after trace $name: instances [$(ls $T/instances 2>/dev/null | tr '\n' ' ')] dma_buf enable $(cat $T/events/dma_buf/enable 2>/dev/null)"
  [ -e /tmp/$name.json ] && send $name.json /tmp/$name.json 0
  send $name.out /tmp/$name.out 0
  send $name.err /tmp/$name.err 0
}
if [ $TRACE = 1 ]; then
  trace_run trace 1024 $SCEN_ARGS
  # a trace buffer of a few pages against thousands of events: the overrun must be counted
  [ -d /sys/kernel/tracing/events/dma_buf ] && STALL=1 trace_run many 8 --many 3000
fi
finish
