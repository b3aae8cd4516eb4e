#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the test dependencies (a Python venv
# with boto3 for the wire-format test), then `cargo test`. Extra arguments go to cargo test.
# The integration tests are one binary (tests/it/): `cargo test --test it cli_publish::` runs one
# module's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f scripts/install-test-deps.sh ]; then
  bash scripts/install-test-deps.sh
fi
if [ -x .venv/bin/python ]; then
  export CRPACK_TEST_PYTHON="$PWD/.venv/bin/python"
  # In-process sandboxes run jobs on this interpreter's PySpark (else they are simulated).
  export CRPACK_PYTHON="${CRPACK_PYTHON:-$PWD/.venv/bin/python}"
  # The environment builds download wheels with this interpreter's pip (the setup installs it).
  export CRPACK_PIP_PYTHON="${CRPACK_PIP_PYTHON:-$PWD/.venv/bin/python}"
fi

arm64_root=${CRPACK_ARM64_ROOT:-$HOME/.cache/crpack/arm64-root}
if [ -x "$arm64_root/usr/bin/python3.11" ]; then
  export CRPACK_TEST_ARM64_ROOT="$arm64_root"
fi

cargo test --workspace --locked "$@"
