#!/usr/bin/env bash
# Runs one end-to-end test script with the local cluster's environment, or
# brings that cluster up (--up, or --up-real-node with a real node) or down
# (--down) as ctest's fixture.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
  --up) exec scripts/cluster.sh up ;;
  --up-real-node) exec scripts/cluster.sh up --real-node ;;
  --down)
    scripts/cluster.sh down
    exec scripts/cluster.sh check-clean ;;
  "") echo "usage: tests/e2e/run.sh --up | --up-real-node | --down | SCRIPT" >&2; exit 2 ;;
esac

eval "$(scripts/cluster.sh env)"
export KPROFEFE_BUILD_DIR="${KPROFEFE_BUILD_DIR:-$PWD/build}"
export PATH="$KPROFEFE_BUILD_DIR:$PATH"
exec bash "$1"
