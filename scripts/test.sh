#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it:
#   formatting, clippy, then every test of the workspace against real
#   Prometheus, node-exporter and an S3 emulator (installed first).
# STRATUS_SKIP_INSTALL=1 skips the install step; STRATUS_E2E_SECONDS shortens
# the minutes-long Prometheus remote_write test while iterating.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${STRATUS_SKIP_INSTALL:-0}" = 1 ] || scripts/install-test-deps.sh
export STRATUS_MOTO_SERVER=${STRATUS_MOTO_SERVER:-$PWD/.tools/moto/bin/moto_server}

cargo fmt --all -- --check
# Terraform formatting (the HCL itself is parsed by lambda/tests/terraform.rs).
if command -v terraform >/dev/null 2>&1; then
  terraform fmt -check -recursive infra/terraform localstack
else
  echo "WARNING: terraform is not installed: terraform fmt -check NOT run" >&2
fi
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
