#!/bin/bash
# Fetch a kernel the realkernel tests boot, from Debian's own archive:
#   6.12  bookworm-backports' linux-image (6.12): system dma-heap, udmabuf, debugfs, vgem.ko
#   7     trixie-backports' linux-image-amd64 (7.x; split into linux-binary-*, linux-base-*,
#         linux-modules-*): the same, plus BPF iterators (BPF_SYSCALL, DEBUG_INFO_BTF), tracing,
#         and no sysfs dma-buf stats (removed in 7.0)
#
#   tests/realkernel/fetch_kernel.sh [6.12|7]   # prints the kernel dir (vmlinuz, config, modules)
#
# Cache: $DROIDTRACK_CACHE or ~/.cache/droidtrack-realkernel. A cached kernel is reused without
# touching the network. The backports suite is read through a private apt configuration under the
# cache (same URIs and keyring as the machine's own Debian sources), so the system's apt sources
# are left as they are. Missing host tools (qemu-system-x86, busybox-static, mksh, toybox, gcc)
# are installed with apt-get. Fails loudly when the kernel config lacks what the tests need.
set -euo pipefail

CACHE=${DROIDTRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/droidtrack-realkernel}
WANT=${1:-6.12}
case $WANT in
  6.12) KDIR=$CACHE/kernel; SUITE=bookworm-backports; IMAGE_RE='^linux-image-6\.1[2-9]' ;;
  7) KDIR=$CACHE/kernel-7; SUITE=trixie-backports; IMAGE_RE='^linux-image-7\.' ;;
  *) echo "fetch_kernel: ERROR: unknown kernel '$WANT' (6.12 or 7)" >&2; exit 2 ;;
esac
mkdir -p "$CACHE"
log() { echo "fetch_kernel: $*" >&2; }
die() { echo "fetch_kernel: ERROR: $*" >&2; exit 1; }

# ---- host tools -------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -x /usr/lib/x86_64-linux-musl/bin/mksh ] || need+=(mksh)
command -v toybox >/dev/null || need+=(toybox)
command -v gcc >/dev/null || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)   # gcc -static needs libc.a
command -v strings >/dev/null || need+=(binutils)
command -v xz >/dev/null || need+=(xz-utils)
if [ "$WANT" = 7 ]; then
  # the BPF iterator program (dmabuf_iter.bpf.c) and its loader in the VM
  command -v clang >/dev/null || need+=(clang)
  command -v bpftool >/dev/null || need+=(bpftool)
  [ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq "${need[@]}" >&2
fi

# ---- the kernel -------------------------------------------------------------------------
check_config() {
  local cfg=$1 missing=()
  for opt in CONFIG_DMABUF_HEAPS=y CONFIG_DMABUF_HEAPS_SYSTEM=y CONFIG_UDMABUF=y CONFIG_DEBUG_FS=y \
             CONFIG_MEMFD_CREATE=y CONFIG_DRM_VGEM=m CONFIG_SERIAL_8250_CONSOLE=y \
             CONFIG_BLK_DEV_INITRD=y CONFIG_RD_GZIP=y CONFIG_UNIX=y; do
    grep -qx "$opt" "$cfg" || missing+=("$opt")
  done
  if [ "$WANT" = 7 ]; then
    # BPF iterators need BTF; the dma_buf tracepoints need tracing (checked again in the VM)
    for opt in CONFIG_BPF_SYSCALL=y CONFIG_DEBUG_INFO_BTF=y CONFIG_BPF_JIT=y CONFIG_FTRACE=y \
               CONFIG_TRACEPOINTS=y CONFIG_EVENT_TRACING=y CONFIG_DMA_SHARED_BUFFER=y; do
      grep -qx "$opt" "$cfg" || missing+=("$opt")
    done
    if grep -qx CONFIG_DMABUF_SYSFS_STATS=y "$cfg"; then missing+=("no CONFIG_DMABUF_SYSFS_STATS (7.0 removed it)"); fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    die "kernel config $cfg lacks: ${missing[*]}"
  fi
}

if [ -s "$KDIR/vmlinuz" ] && [ -s "$KDIR/config" ] && [ -s "$KDIR/vgem.ko" ] && [ -s "$KDIR/version" ]; then
  check_config "$KDIR/config"
  echo "$KDIR"
  exit 0
fi

log "fetching the $SUITE kernel into $CACHE"
APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/preferences.d" "$APT/etc/sources.list.d"
# same archive URI and keyring as the machine's own Debian main suites
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1 || true)
key=$(sed -n 's/^Signed-By:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
[ -n "$uri" ] || uri=http://deb.debian.org/debian
[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
rm -f "$APT/etc/sources.list.d/"*.sources
rm -rf "$APT/lists"; mkdir -p "$APT/lists/partial"
cat > "$APT/etc/sources.list.d/backports.sources" <<SRC
Types: deb
URIs: $uri
Suites: $SUITE
Components: main
Architectures: amd64
Signed-By: $key
SRC
: > "$APT/etc/sources.list"
aptopts=(-o "Dir::Etc::SourceList=$APT/etc/sources.list"
         -o "Dir::Etc::SourceParts=$APT/etc/sources.list.d"
         -o "Dir::Etc::Preferences=$APT/etc/preferences"
         -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d"
         -o "Dir::State::Lists=$APT/lists"
         -o "Dir::Cache=$APT/cache"
         -o "Dir::Cache::Archives=$APT/archives"
         -o "APT::Sandbox::User=root"
         -o "APT::Architecture=amd64" -o "APT::Architectures::=amd64")
mkdir -p "$APT/cache"
apt-get "${aptopts[@]}" update -qq >&2 || die "apt-get update of $SUITE failed"
# the metapackage names the current versioned image; prefer the unsigned build (same kernel)
meta_dep=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null \
           | sed -n 's/^ *Depends: \(linux-image-[0-9][0-9.+~a-z-]*amd64\).*/\1/p' | grep "$IMAGE_RE" | head -n1 || true)
[ -n "$meta_dep" ] || die "could not resolve linux-image-amd64 in $SUITE to a $WANT image"
pkgs=$meta_dep
unsigned=${meta_dep%-amd64}-amd64-unsigned
if apt-cache "${aptopts[@]}" show "$unsigned" >/dev/null 2>&1; then pkgs=$unsigned; fi
if [ "$WANT" = 7 ]; then
  # 7.x images are split: the image package is a metapackage over the kernel, its config and modules
  flavour=${meta_dep#linux-image-}
  pkgs="linux-binary-$flavour linux-base-$flavour linux-modules-$flavour"
fi
log "downloading $pkgs"
work=$CACHE/dl
rm -rf "$work"; mkdir -p "$work"
(cd "$work" && apt-get "${aptopts[@]}" download $pkgs >&2) || die "apt-get download $pkgs failed"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
deb=$(ls "$work"/*.deb | head -n1)
pkg=${pkgs%% *}
mroot=$work/x/lib/modules
[ -d "$mroot" ] || mroot=$work/x/usr/lib/modules
kver=$(ls "$mroot" | head -n1)
[ -n "$kver" ] || die "no lib/modules in $pkgs"
rm -rf "$KDIR.new"; mkdir -p "$KDIR.new"
if [ -e "$work/x/boot/vmlinuz-$kver" ]; then
  cp "$work/x/boot/vmlinuz-$kver" "$KDIR.new/vmlinuz"
  cp "$work/x/boot/config-$kver" "$KDIR.new/config"
else
  cp "$mroot/$kver/vmlinuz" "$KDIR.new/vmlinuz" || die "no vmlinuz in $pkgs"
  cp "$mroot/$kver/config" "$KDIR.new/config" || die "no config in $pkgs"
fi
check_config "$KDIR.new/config"
# vgem and the modules it depends on. The .deb ships no modules.dep (depmod makes it at install
# time), so follow each module's own "depends=" field, dependencies first.
mdir=$mroot/$kver
: > "$KDIR.new/modules.order"
modpath() { # module name -> path relative to $mdir ('-' and '_' are the same in module names)
  local n=${1//-/_}
  (cd "$mdir" && find kernel -name '*.ko*' | while read -r f; do
     b=${f##*/}; b=${b%%.ko*}; [ "${b//-/_}" = "$n" ] && { echo "$f"; break; }; done)
}
unpack() { # rel -> plain .ko in $KDIR.new, prints its file name
  local rel=$1 base
  base=${rel##*/}; base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
  case $rel in
    *.xz) xz -dc "$mdir/$rel" > "$KDIR.new/$base" ;;
    *.zst) zstd -qdc "$mdir/$rel" > "$KDIR.new/$base" ;;
    *.gz) gzip -dc "$mdir/$rel" > "$KDIR.new/$base" ;;
    *) cp "$mdir/$rel" "$KDIR.new/$base" ;;
  esac
  echo "$base"
}
add_module() { # name: add its dependencies, then itself, once each
  local name=$1 rel base dep
  grep -qx "${name//-/_}" "$KDIR.new/.seen" 2>/dev/null && return 0
  echo "${name//-/_}" >> "$KDIR.new/.seen"
  rel=$(modpath "$name")
  [ -n "$rel" ] || die "module $name not found in $pkg"
  base=$(unpack "$rel")
  for dep in $(strings -a "$KDIR.new/$base" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$dep"
  done
  echo "$base" >> "$KDIR.new/modules.order"
}
add_module vgem
rm -f "$KDIR.new/.seen"
echo "$kver" > "$KDIR.new/version"
echo "$pkg $(dpkg-deb -f "$deb" Version)" > "$KDIR.new/package"
rm -rf "$KDIR"; mv "$KDIR.new" "$KDIR"
rm -rf "$work"
log "kernel $kver ready in $KDIR ($(cat "$KDIR/modules.order" | tr '\n' ' '))"
echo "$KDIR"
