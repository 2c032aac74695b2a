#!/usr/bin/env bash
# Builds the Lambda functions as arm64 (Graviton) zips in
# target/lambda/<function>/bootstrap.zip, the paths infra/terraform deploys,
# then prints each zip's size and the cold-start init time of the same
# functions built for this machine (an arm64 binary cannot run here).
#
# Needs cargo-lambda (`pip install cargo-lambda`, which brings zig) and the
# aarch64-unknown-linux-gnu Rust target (added with rustup below).
#
# usage: scripts/build-functions.sh [--x86-64]   (--x86-64: zips for x86_64 Lambdas)
set -euo pipefail
cd "$(dirname "$0")/.."

FUNCTIONS=(ingest query compactor ruler notifier authorizer)
bins=()
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
arch=(--arm64)
if [[ "${1:-}" == "--x86-64" ]]; then arch=(--x86-64); fi

if ! command -v cargo-lambda >/dev/null; then
  echo "cargo-lambda is not installed: pip install cargo-lambda" >&2
  exit 1
fi
if [[ "${arch[0]}" == "--arm64" ]]; then
  rustup target add aarch64-unknown-linux-gnu
fi

echo "== building ${FUNCTIONS[*]} (${arch[0]#--}, profile dist)"
cargo lambda build --profile dist "${arch[@]}" --output-format zip \
  -p stratus-lambda "${bins[@]}"

echo "== artifacts"
for f in "${FUNCTIONS[@]}"; do
  python3 - "$f" <<'PY'
import os, sys, zipfile
f = sys.argv[1]
z = f"target/lambda/{f}/bootstrap.zip"
unzipped = sum(i.file_size for i in zipfile.ZipFile(z).infolist())
print(f"{f:<11} {z}  zip {os.path.getsize(z) / 1e6:5.1f} MB  bootstrap {unzipped / 1e6:5.1f} MB")
PY
done

echo "== cold-start init time (the same functions built for this machine)"
cargo build --profile dist -p stratus-lambda "${bins[@]}"
host=()
for f in "${FUNCTIONS[@]}"; do host+=("target/dist/$f"); done
python3 scripts/lambda-init-time.py "${host[@]}"
