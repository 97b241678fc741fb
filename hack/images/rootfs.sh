#!/usr/bin/env bash
# rootfs.sh - the loadtester image's root file system: Debian packages that
# mmdebstrap installs into a tarball, with no base image pulled from anywhere.
#
#   hack/images/rootfs.sh ARCH OUT.tar    (ARCH: amd64 or arm64; as root)
#
# hack/images runs it with SOURCE_DATE_EPOCH set to the time of the last
# commit that changed this file; mmdebstrap clamps every timestamp to it and
# sorts the tarball. hack/images caches the result (in
# ~/.cache/warbler/images) under a key of this file's content, ARCH and that
# time: this file is the whole recipe, and commits that leave it alone reuse
# the cached root. What it cannot pin is the mirror: apt installs the
# versions Debian serves that day, and hack/images records them (dpkg's
# status) in each image's SBOM and labels.
#
# A foreign ARCH runs the packages' maintainer scripts under qemu-user
# through binfmt_misc; the script installs and registers what that needs.
set -Eeuo pipefail

SUITE=trixie
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
# bash, curl and grep run seed 003's `type: bash` hooks; ca-certificates lets
# curl (and the Go binaries) verify TLS; jq is what hooks parse JSON with, as
# Flagger's image allows. The Essential set (coreutils, sed, findutils, dash,
# ...) comes with --variant=essential. kubectl is added by hack/images.
PACKAGES=bash,ca-certificates,curl,grep,jq
# The user the images run as (the charts' runAsUser), as distroless names it.
NONROOT=65532

say() { printf '[rootfs %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ $# = 2 ] || die "usage: $0 ARCH OUT.tar"
arch=$1 out=$2
case $arch in
  amd64) qemu=x86_64 ;;
  arm64) qemu=aarch64 ;;
  *) die "ARCH $arch: valid are amd64 and arm64" ;;
esac
[ "$(id -u)" = 0 ] || die "mmdebstrap needs root here (it installs into a chroot)"

apt_install() {
  say "installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# binfmt_misc runs ARCH's binaries under qemu-user-static, whose F flag keeps
# the interpreter usable inside the chroot.
foreign_arch() {
  local fs=/proc/sys/fs/binfmt_misc
  [ -e "$fs/register" ] || mount -t binfmt_misc binfmt_misc "$fs" || die "cannot mount $fs"
  [ -x /usr/bin/qemu-$qemu-static ] || apt_install qemu-user-static
  if [ ! -e "$fs/qemu-$qemu" ]; then
    [ -f /usr/lib/binfmt.d/qemu-$qemu.conf ] || die "qemu-user-static has no /usr/lib/binfmt.d/qemu-$qemu.conf"
    cat /usr/lib/binfmt.d/qemu-$qemu.conf >"$fs/register"
  fi
}

# debian-archive-keyring verifies the mirror on hosts that are not Debian
command -v mmdebstrap >/dev/null && command -v arch-test >/dev/null || apt_install mmdebstrap arch-test debian-archive-keyring
[ "$arch" = "$(dpkg --print-architecture)" ] || foreign_arch

say "installing Debian $SUITE for $arch: $PACKAGES and the Essential set"
# No documentation but the copyright files, no translations: nothing a hook
# runs, and a third of the size.
mmdebstrap --quiet --variant=essential --architectures="$arch" --include="$PACKAGES" \
  --skip=output/dev \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="echo 'nonroot:x:$NONROOT:$NONROOT:nonroot:/home/nonroot:/usr/sbin/nologin' >>\"\$1/etc/passwd\"" \
  --customize-hook="echo 'nonroot:x:$NONROOT:' >>\"\$1/etc/group\"" \
  --customize-hook="install -d -m 0755 -o $NONROOT -g $NONROOT \"\$1/home/nonroot\"" \
  "$SUITE" "$out" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main"
