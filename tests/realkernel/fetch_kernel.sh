#!/bin/bash
# Fetch the kernel the realkernel tests boot: Debian bookworm-backports' linux-image (6.12), whose
# config builds in the system dma-heap, udmabuf and debugfs, and ships vgem.ko.
#
#   tests/realkernel/fetch_kernel.sh            # prints the kernel dir (vmlinuz, config, modules)
#
# Cache: $DROIDTRACK_CACHE or ~/.cache/droidtrack-realkernel. A cached kernel is reused without
# touching the network. The backports suite is read through a private apt configuration under the
# cache (same URIs and keyring as the machine's own Debian sources), so the system's apt sources
# are left as they are. Missing host tools (qemu-system-x86, busybox-static, mksh, toybox, gcc)
# are installed with apt-get. Fails loudly when the kernel config lacks what the tests need.
set -euo pipefail

CACHE=${DROIDTRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/droidtrack-realkernel}
KDIR=$CACHE/kernel
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
  if [ ${#missing[@]} -gt 0 ]; then
    die "kernel config $cfg lacks: ${missing[*]}"
  fi
}

if [ -s "$KDIR/vmlinuz" ] && [ -s "$KDIR/config" ] && [ -s "$KDIR/vgem.ko" ] && [ -s "$KDIR/version" ]; then
  check_config "$KDIR/config"
  echo "$KDIR"
  exit 0
fi

log "fetching the bookworm-backports kernel into $CACHE"
APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/preferences.d" "$APT/etc/sources.list.d"
# same archive URI and keyring as the machine's own Debian main suites
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1 || true)
key=$(sed -n 's/^Signed-By:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
[ -n "$uri" ] || uri=http://deb.debian.org/debian
[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$APT/etc/sources.list.d/backports.sources" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
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
apt-get "${aptopts[@]}" update -qq >&2 || die "apt-get update of bookworm-backports failed"
# the metapackage names the current versioned image; prefer the unsigned build (same kernel)
meta_dep=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null \
           | sed -n 's/^ *Depends: \(linux-image-6\.[0-9.+~a-z-]*amd64\).*/\1/p' | grep '^linux-image-6\.1[2-9]' | head -n1 || true)
[ -n "$meta_dep" ] || die "could not resolve linux-image-amd64 in bookworm-backports to a 6.12+ image"
pkg=$meta_dep
unsigned=${meta_dep%-amd64}-amd64-unsigned
if apt-cache "${aptopts[@]}" show "$unsigned" >/dev/null 2>&1; then pkg=$unsigned; fi
log "downloading $pkg"
work=$CACHE/dl
rm -rf "$work"; mkdir -p "$work"
(cd "$work" && apt-get "${aptopts[@]}" download "$pkg" >&2) || die "apt-get download $pkg failed"
deb=$(ls "$work"/*.deb | head -n1)
dpkg-deb -x "$deb" "$work/x"
kver=$(ls "$work/x/lib/modules" | head -n1)
[ -n "$kver" ] || die "no /lib/modules in $deb"
rm -rf "$KDIR.new"; mkdir -p "$KDIR.new"
cp "$work/x/boot/vmlinuz-$kver" "$KDIR.new/vmlinuz"
cp "$work/x/boot/config-$kver" "$KDIR.new/config"
check_config "$KDIR.new/config"
# vgem and the modules it depends on. The .deb ships no modules.dep (depmod makes it at install
# time), so follow each module's own "depends=" field, dependencies first.
mdir=$work/x/lib/modules/$kver
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
