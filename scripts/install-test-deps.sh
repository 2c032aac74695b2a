#!/usr/bin/env bash
# Installs what the test suite runs against, on a fresh Debian machine:
#   - Prometheus, node-exporter, Alertmanager (Debian packages): a real
#     remote_write client and the reference for PromQL answers;
#   - moto (PyPI, pinned): a real S3 emulator for the storage suite;
#   - a Python venv with scripts/requirements-test.txt (DuckDB, pinned),
#     which reads the Parquet blocks in crates/block/tests/duckdb.rs.
# Idempotent: what is already there is not installed again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tools=${STRATUS_TOOLS_DIR:-$here/.tools}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "install-test-deps: need root (or sudo) for: $*" >&2; exit 1; fi
}

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$tools/moto/bin/moto_server" ]; then
  echo "install-test-deps: moto into $tools/moto"
  mkdir -p "$tools"
  python3 -m venv "$tools/moto"
  "$tools/moto/bin/pip" install -q --no-cache-dir -r "$here/scripts/requirements-moto.txt"
fi
duckdb_want=$(sed -n 's/^duckdb==//p' "$here/scripts/requirements-test.txt")
if ! "$tools/py/bin/python" -c "import sys, duckdb; sys.exit(duckdb.__version__ != '$duckdb_want')" 2>/dev/null; then
  echo "install-test-deps: scripts/requirements-test.txt into $tools/py"
  mkdir -p "$tools"
  [ -x "$tools/py/bin/python" ] || python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install -q --no-cache-dir -r "$here/scripts/requirements-test.txt"
fi
echo "install-test-deps: ready (prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), moto $("$tools/moto/bin/pip" show moto 2>/dev/null | awk '/^Version/{print $2}'), duckdb $("$tools/py/bin/python" -c 'import duckdb; print(duckdb.__version__)'))"
