#!/usr/bin/env bash
# version.sh - the version every build of Warbler stamps into its binaries,
# images and charts, from git.
#
#   hack/version.sh           the version: `git describe --tags --dirty` of a
#                             tagged history (v1.2.3, v1.2.3-4-gabc1234), and
#                             v0.0.0-<commits>-g<short sha> before the first
#                             tag; -dirty when the work tree has changes
#   hack/version.sh commit    the full commit hash (with -dirty likewise)
#   hack/version.sh epoch     SOURCE_DATE_EPOCH: the environment's, else the
#                             commit time of HEAD
#   hack/version.sh ldflags   the -X flags of package internal/version
#   hack/version.sh env       all of them as shell assignments (VERSION,
#                             COMMIT, SOURCE_DATE_EPOCH, LDFLAGS), for
#   eval "$(hack/version.sh env)" in CI and for internal/version.Describe
#
# Outside a git checkout the version is "dev" and the commit "unknown".
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=github.com/warbler-dev/warbler/internal/version

in_git() { git rev-parse --git-dir >/dev/null 2>&1; }

dirty() { [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo -dirty || true; }

version() {
  in_git || { echo dev; return; }
  local v
  if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
    echo "$v"
  else
    echo "v0.0.0-$(git rev-list --count HEAD)-g$(git rev-parse --short=7 HEAD)$(dirty)"
  fi
}

commit() {
  in_git || { echo unknown; return; }
  echo "$(git rev-parse HEAD)$(dirty)"
}

epoch() {
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then echo "$SOURCE_DATE_EPOCH"; return; fi
  in_git || { echo 0; return; }
  git log -1 --format=%ct HEAD
}

ldflags() { echo "-X $PKG.Version=$(version) -X $PKG.Commit=$(commit)"; }

case "${1:-version}" in
  version) version ;;
  commit) commit ;;
  epoch) epoch ;;
  ldflags) ldflags ;;
  env)
    printf "VERSION='%s'\nCOMMIT='%s'\nSOURCE_DATE_EPOCH='%s'\nLDFLAGS='%s'\n" \
      "$(version)" "$(commit)" "$(epoch)" "$(ldflags)" ;;
  *) echo "usage: $0 [version|commit|epoch|ldflags|env]" >&2; exit 2 ;;
esac
