#!/usr/bin/env bash
# Installs the test dependencies that cargo cannot: a Python virtual environment in .venv with
# the pinned boto3/botocore that tests/sandbox_boto3.rs drives against the sandbox.
# Idempotent: an existing .venv is reused, and pip leaves satisfied pins alone.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tests/wire/requirements.txt
if [ -x .venv/bin/python ]; then
  echo "install-test-deps: reusing .venv ($(.venv/bin/python --version 2>&1))"
else
  echo "install-test-deps: creating .venv with $(python3 --version 2>&1)"
  python3 -m venv .venv
fi
echo "install-test-deps: pip install -r $requirements"
.venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
echo "install-test-deps: $(.venv/bin/python -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)')"
