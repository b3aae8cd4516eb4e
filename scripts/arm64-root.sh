#!/usr/bin/env bash
# Makes an arm64 Debian bookworm root with CPython 3.11, so that code can be run on the
# runtime's CPU (Linux aarch64, Python 3.11) on any Linux machine through qemu user emulation:
#
#   qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11 -c 'import platform; print(platform.machine())'
#
# ROOT is ${CRPACK_ARM64_ROOT:-$HOME/.cache/crpack/arm64-root}. The tests that import
# environments on aarch64 read it from CRPACK_TEST_ARM64_ROOT.
#
# Installs Debian's qemu-user-static and debootstrap when missing (apt-get, as root). The root is
# made with `debootstrap --foreign` from the Debian mirror apt is already configured with; the
# second stage needs binfmt_misc, which containers usually lack, so the downloaded packages are
# unpacked with dpkg-deb instead (nothing runs their maintainer scripts; python3.11 does not need
# them). Idempotent: a working root is left alone; the root is built in a temporary directory
# beside the final one and renamed into place at the end, so an interrupted run leaves nothing a
# rerun trips on. Takes about 3 minutes.
set -euo pipefail

root=${CRPACK_ARM64_ROOT:-$HOME/.cache/crpack/arm64-root}
suite=bookworm

say() { echo "arm64-root: $*"; }
die() { echo "arm64-root: error: $*" >&2; exit 1; }

qemu() {
  if command -v qemu-aarch64-static >/dev/null 2>&1; then
    echo qemu-aarch64-static
  elif command -v qemu-aarch64 >/dev/null 2>&1; then
    echo qemu-aarch64
  fi
}

# Prints "aarch64 3.11.x" when DIR holds a working aarch64 CPython 3.11.
probe() {
  local dir=$1 q
  q=$(qemu)
  [ -n "$q" ] && [ -x "$dir/usr/bin/python3.11" ] || return 1
  "$q" -L "$dir" "$dir/usr/bin/python3.11" -I -c \
    'import platform, sys; print(platform.machine(), sys.version.split()[0])' 2>/dev/null
}

works() {
  local out
  out=$(probe "$1") || return 1
  case "$out" in
    "aarch64 3.11."*) return 0 ;;
    *) return 1 ;;
  esac
}

# The tools, from Debian's packages.
missing=()
[ -n "$(qemu)" ] || missing+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 \
    || die "${missing[*]} missing and there is no apt-get: install them with the system's package manager"
  [ "$(id -u)" = 0 ] || die "${missing[*]} missing: run this script as root (or sudo apt-get install ${missing[*]})"
  say "apt-get install ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -n "$(qemu)" ] || die "qemu-aarch64-static is still not on PATH after installing qemu-user-static"

if works "$root"; then
  say "$(probe "$root") already at $root"
  echo "$root"
  exit 0
fi

# The Debian mirror apt uses: the first URI of a source that serves the suite itself (not
# -security or -updates), from deb822 .sources files or the one-line sources.list format.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (uris != "" && suites ~ ("(^| )" suite "( |$)") && types ~ /(^| )deb( |$)/) {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        uris = ""; suites = ""; types = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
      tolower($1) == "types:"  { $1 = ""; types = $0; sub(/^ +/, "", types) }
      END { if (!found) flush() }
    ' "$f" | head -n 1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -e 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
  done
}
mirror_uri=$(mirror | head -n 1)
[ -n "$mirror_uri" ] \
  || die "no apt source for Debian $suite in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: add one, or set up a Debian $suite mirror there"
say "mirror $mirror_uri (from the apt configuration)"

parent=$(dirname "$root")
mkdir -p "$parent"
# Leftovers of runs that were killed outright (a trap cannot run then); other runs' fresh
# directories are left alone.
find "$parent" -maxdepth 1 -name ".$(basename "$root").tmp.*" -mmin +240 -exec rm -rf {} + 2>/dev/null || true
work=$(mktemp -d "$parent/.$(basename "$root").tmp.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

say "debootstrap --arch=arm64 --variant=minbase --foreign --include=python3.11 $suite (about 3 minutes)"
if ! debootstrap --arch=arm64 --variant=minbase --foreign --include=python3.11 \
  "$suite" "$work/root" "$mirror_uri" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log above): check the network and the mirror $mirror_uri"
fi

debs=("$work"/root/var/cache/apt/archives/*.deb)
[ -f "${debs[0]}" ] || die "debootstrap downloaded no packages into var/cache/apt/archives"
say "unpacking ${#debs[@]} packages with dpkg-deb -x"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed: the download may be corrupt; run again"
done

works "$work/root" \
  || die "the new root's python3.11 does not run under $(qemu) (output: $(probe "$work/root" || true))"

# Into place. Another run may have finished first: keep its root. A broken root from before is
# moved aside first, then removed with the temporary directory.
if works "$root"; then
  say "$(probe "$root") already at $root (made meanwhile)"
  echo "$root"
  exit 0
fi
if [ -e "$root" ] || [ -L "$root" ]; then
  old="$work/old"
  mv -T "$root" "$old"
fi
mv -T "$work/root" "$root"

out=$(probe "$root") || die "python3.11 in $root does not run after the rename"
case "$out" in
  "aarch64 3.11."*) ;;
  *) die "$root runs, but reports '$out' instead of aarch64 3.11" ;;
esac
say "$out"
say "ready: $(qemu) -L $root $root/usr/bin/python3.11"
say "for the tests: export CRPACK_TEST_ARM64_ROOT=$root"
echo "$root"
