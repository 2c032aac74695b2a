#!/usr/bin/env bash
# Start LocalStack 4.13.1 without Docker ("host mode") on 127.0.0.1:${PORT:-4566}.
# Usage: localstack/run-host.sh [STATE_DIR]   -> prints the LocalStack PID once S3 is running.
# SERVICES defaults to s3; e.g. SERVICES=s3,iam,sts,lambda,logs,scheduler for Terraform.
# Needs python3.11 (the machine's default). Installs into $STATE_DIR/venv on first use
# (requirements-localstack.txt, then requirements-localstack-services.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:-${TMPDIR:-/tmp}/stratus-localstack}
port=${PORT:-4566}
mkdir -p "$state"
state=$(cd "$state" && pwd)
if [ ! -x "$state/venv/bin/python" ]; then
  python3 -m venv "$state/venv"
  "$state/venv/bin/pip" install -q --no-cache-dir -r "$here/requirements-localstack.txt"
fi
# iam, sts, lambda, logs and scheduler need moto-ext and crontab besides the base lock.
if ! "$state/venv/bin/python" -P -c 'import moto, crontab' 2>/dev/null; then
  "$state/venv/bin/pip" install -q --no-cache-dir -c "$here/requirements-localstack.txt" -r "$here/requirements-localstack-services.txt"
fi
cd "$state" # -P and a neutral cwd: a folder named like a Python package breaks imports
GATEWAY_LISTEN=127.0.0.1:$port SERVICES=${SERVICES:-s3} \
  OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$state/fs" XDG_CACHE_HOME="$state/cache" \
  DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 EAGER_SERVICE_LOADING=1 \
  nohup "$state/venv/bin/python" -P -m localstack.runtime.main >"$state/localstack.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || { tail -20 "$state/localstack.log" >&2; exit 1; }
  curl -fs "http://127.0.0.1:$port/_localstack/health" | grep -q '"s3": "running"' && { echo "$pid"; exit 0; }
  sleep 0.1
done
echo "localstack did not report s3 running within 60 s (log: $state/localstack.log)" >&2
kill "$pid"
exit 1
