"""The programs a phone has that the double's sandbox provides as small sh scripts: getprop,
dumpsys, dmabuf_dump, id (with the SELinux context), su in three styles, the /proc/self rewriter,
and a `toybox` stand-in when the host's utilities replace toybox. Each runs under the sandbox's
shell as /system/bin/<name> (direct mode rewrites their device paths: Sandbox.script)."""
from __future__ import annotations

# applets a phone's toybox offers; the shims below take precedence
SHIMS = ("getprop", "dumpsys", "id", "dmabuf_dump", "run-as")

GETPROP = r"""#!/system/bin/sh
# droidtrack device double: getprop over the fixture's property list
F=/system/etc/double/props
if [ $# -eq 0 ]; then cat "$F"; exit 0; fi
while IFS= read -r l; do
  case $l in "[$1]: ["*) v=${l#"[$1]: ["}; echo "${v%]}"; exit 0 ;; esac
done < "$F"
echo "$2"
"""

DUMPSYS = r"""#!/system/bin/sh
# droidtrack device double: dumpsys prints what the fixture stored for these arguments
# (synth.DeviceTree.set_dumpsys writes <root>/dumpsys/<args, spaces and / as _>.txt)
if [ $# -eq 0 ]; then
  for f in /dumpsys/*.txt /system/etc/double/dumpsys/*.txt; do
    [ -e "$f" ] && { n=${f##*/}; echo "DUMP OF SERVICE ${n%.txt}:"; cat "$f"; }
  done
  exit 0
fi
k="$*"; k=${k// /_}; k=${k//\//_}
for f in "/dumpsys/$k.txt" "/system/etc/double/dumpsys/$k.txt" "/dumpsys/$1.txt" "/system/etc/double/dumpsys/$1.txt"; do
  if [ -e "$f" ]; then cat "$f"; exit 0; fi
done
echo "Can't find service: $1" >&2
exit 0
"""

DMABUF_DUMP = r"""#!/system/bin/sh
# droidtrack device double: dmabuf_dump prints what the fixture stored
F=/system/etc/double/dmabuf_dump
if [ "$(toybox id -u)" != 0 ]; then echo "dmabuf_dump: Unable to read dma-buf info: Permission denied" >&2; exit 1; fi
if [ -e "$F" ]; then cat "$F"; exit 0; fi
echo "dmabuf_dump: no dma-buf data on this device" >&2
exit 1
"""

ID = r"""#!/system/bin/sh
# droidtrack device double: toybox id, plus the SELinux context a phone prints
if [ $# -eq 0 ]; then
  if [ "$(toybox id -u)" = 0 ]; then c=u:r:su:s0; else c=u:r:shell:s0; fi
  echo "$(toybox id) context=$c"
  exit 0
fi
exec toybox id "$@"
"""

# AOSP's su (userdebug builds): su [WHO [COMMAND...]]; only root and shell may call it.
SU_AOSP = r"""#!/system/bin/sh
# droidtrack device double: AOSP-style su
u=$(toybox id -u)
if [ "$u" != 0 ] && [ "$u" != 2000 ]; then echo "su: uid $u not allowed to su" >&2; exit 1; fi
who=0
if [ $# -gt 0 ]; then
  case $1 in
    0|root) who=0; shift ;;
    *) echo "su: unknown user $1" >&2; exit 1 ;;
  esac
fi
E="/system/xbin/.su-elevate --reuid 0 --regid 0 --clear-groups --"
if [ $# -eq 0 ]; then exec $E /system/bin/sh -c '/system/bin/.self-uid; exec /system/bin/sh'; fi
exec $E /system/bin/sh -c '/system/bin/.self-uid; exec "$@"' su "$@"
"""

# Magisk/SuperSU style: su [-c CMD] [user [args...]]
SU_MAGISK = r"""#!/system/bin/sh
# droidtrack device double: Magisk-style su
cmd=
while [ $# -gt 0 ]; do
  case $1 in
    -c) cmd=$2; shift 2 ;;
    -c*) cmd=${1#-c}; shift ;;
    -|-l|--login|-p|-m|-mm|-M) shift ;;
    0|root) shift ;;
    *) break ;;
  esac
done
E="/system/xbin/.su-elevate --reuid 0 --regid 0 --clear-groups --"
if [ -n "$cmd" ]; then exec $E /system/bin/sh -c '/system/bin/.self-uid; eval "$1"' su "$cmd"; fi
exec $E /system/bin/sh -c '/system/bin/.self-uid; exec /system/bin/sh "$@"' su "$@"
"""

SU_DENY = r"""#!/system/bin/sh
# droidtrack device double: su that the user refused
echo "Permission denied" >&2
exit 1
"""

# The fixture's /proc is files, so /proc/self cannot follow the reader: the double rewrites the Uid
# and Gid lines and the SELinux context for the uid a command runs as, and su does it again.
SELF_UID = r"""#!/system/bin/sh
u=$(toybox id -u)
f=/proc/self/status
[ -w "$f" ] || exit 0
if [ "$u" = 0 ]; then c=u:r:su:s0; else c=u:r:shell:s0; fi
t=$(while IFS= read -r l; do
  case $l in
    Uid:*) printf 'Uid:\t%s\t%s\t%s\t%s\n' $u $u $u $u ;;
    Gid:*) printf 'Gid:\t%s\t%s\t%s\t%s\n' $u $u $u $u ;;
    *) printf '%s\n' "$l" ;;
  esac
done < "$f")
printf '%s\n' "$t" > "$f"
[ -e /proc/self/attr/current ] && printf '%s\0' $c > /proc/self/attr/current
exit 0
"""

# AOSP's run-as (system/core/run-as): run-as PACKAGE [--user N] [COMMAND [ARGS...]] as the app's
# uid in its data directory, for shell or root only and only for a debuggable application; its
# refusals are error(3) lines ("run-as: <why>: <package>") and exit 1. The packages are the
# double's packages.list ("name uid debuggable datadir", as /data/system/packages.list).
RUN_AS = r"""#!/system/bin/sh
# droidtrack device double: run-as over the fixture's packages.list
u=$(toybox id -u)
if [ "$u" != 0 ] && [ "$u" != 2000 ]; then echo "run-as: only 'shell' or 'root' users can run this program" >&2; exit 1; fi
if [ $# -lt 1 ]; then echo "usage: run-as <package-name> [--user <uid>] <command> [<args>]" >&2; exit 1; fi
pkg=$1; shift
if [ "$1" = --user ]; then
  [ "$2" = 0 ] || { echo "run-as: unknown package: $pkg" >&2; exit 1; }
  shift 2
fi
found=
while IFS=' ' read -r n id dbg dir rest; do
  if [ "$n" = "$pkg" ]; then found=1; break; fi
done < /system/etc/double/packages.list
[ -n "$found" ] || { echo "run-as: unknown package: $pkg" >&2; exit 1; }
[ "$id" -ge 10000 ] || { echo "run-as: package not an application: $pkg" >&2; exit 1; }
[ "$dbg" = 1 ] || { echo "run-as: package not debuggable: $pkg" >&2; exit 1; }
[ $# -gt 0 ] || set -- /system/bin/sh
exec /system/xbin/.su-elevate --reuid "$id" --regid "$id" --clear-groups -- /system/bin/sh /system/bin/.run-as-in "$dir" "$@"
"""

# run-as's second half, as the app: into its data directory, then the command
RUN_AS_IN = r"""#!/system/bin/sh
cd "$1" 2>/dev/null || { echo "run-as: couldn't chdir to package's data directory '$1'" >&2; exit 1; }
shift
exec "$@"
"""

SU_STYLES = {"aosp": SU_AOSP, "magisk": SU_MAGISK, "deny": SU_DENY}


# the host's tools that stand in for toybox (host-tools mode)
TOYBOX_SHIM = """#!/system/bin/sh
# droidtrack device double: no toybox here; `toybox APPLET ...` runs the host's APPLET
[ $# -gt 0 ] || exit 0
PATH=@HOSTPATH@ exec "$@"
"""
