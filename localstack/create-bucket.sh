#!/usr/bin/env bash
# Create a bucket on LocalStack (or moto) with a path-style PUT; no-op when it exists.
# Usage: localstack/create-bucket.sh [BUCKET]   (default: metrics; ENDPOINT defaults to http://127.0.0.1:4566)
set -euo pipefail
bucket=${1:-metrics}
endpoint=${ENDPOINT:-http://127.0.0.1:${PORT:-4566}}
if curl -fsS -o /dev/null -I "$endpoint/$bucket" 2>/dev/null; then
  echo "bucket $bucket exists"
  exit 0
fi
curl -fsS -o /dev/null -X PUT "$endpoint/$bucket"
echo "created bucket $bucket at $endpoint"
