#!/usr/bin/env bash
# make demo: seed 003 on the embedded local stack. Extra arguments go to
# hack/demo (for example -interval 10s, -keep).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
exec go run ./hack/demo "$@"
