#!/usr/bin/env bash
# Installs the test dependencies that cargo cannot: a Python virtual environment in .venv with
# the pinned boto3/botocore that tests/it/sandbox_boto3.rs drives against the sandbox, pyspark
# 3.5.3 for the local runner (tests/it/cli_local_run.rs), a Java runtime for Spark,
# the arm64 root for the aarch64 import tests and headless Chromium for the review page.
# Idempotent: an existing .venv is reused, pip leaves satisfied pins alone, and pyspark (a large
# download) is skipped when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tests/wire/requirements.txt
spark_requirements=tests/requirements-spark.txt
if [ -x .venv/bin/python ]; then
  echo "install-test-deps: reusing .venv ($(.venv/bin/python --version 2>&1))"
else
  echo "install-test-deps: creating .venv with $(python3 --version 2>&1)"
  python3 -m venv .venv
fi
echo "install-test-deps: pip install -r $requirements"
.venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
echo "install-test-deps: $(.venv/bin/python -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)')"

# pyspark: the pinned version from tests/requirements-spark.txt.
spark_pin=$(sed -n 's/^pyspark==\([^[:space:]#]*\).*/\1/p' "$spark_requirements" | head -n 1)
have_spark=$(.venv/bin/python -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null || true)
if [ -n "$spark_pin" ] && [ "$have_spark" = "$spark_pin" ]; then
  echo "install-test-deps: pyspark $have_spark already installed"
else
  echo "install-test-deps: pip install -r $spark_requirements (pyspark is a large download)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$spark_requirements"
  echo "install-test-deps: pyspark $(.venv/bin/python -c 'import pyspark; print(pyspark.__version__)')"
fi

# Java: Spark needs a JVM (JDK 17 is what pyspark 3.5 supports best).
if command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
  echo "install-test-deps: $( (command -v java >/dev/null 2>&1 && java -version 2>&1 || "$JAVA_HOME/bin/java" -version 2>&1) | head -n 1)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: no java on PATH; apt-get install -y openjdk-17-jre-headless"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  echo "install-test-deps: $(java -version 2>&1 | head -n 1)"
else
  echo "install-test-deps: WARNING: no Java runtime found; the local-run tests need one." >&2
  echo "install-test-deps: install a JDK 17 (e.g. sudo apt-get install openjdk-17-jre-headless, or brew install openjdk@17) or set JAVA_HOME" >&2
fi

# An aarch64 CPython 3.11 under qemu-user, for the tests that import environments on the
# runtime's CPU (Debian's qemu-user-static and debootstrap; about 3 minutes the first time).
if [ "$(uname -s)" = Linux ] && { [ "$(id -u)" = 0 ] || [ -x "${CRPACK_ARM64_ROOT:-$HOME/.cache/crpack/arm64-root}/usr/bin/python3.11" ]; }; then
  bash scripts/arm64-root.sh
else
  echo "install-test-deps: WARNING: no arm64 root (needs root on Debian/Ubuntu for apt-get); the aarch64 import tests are skipped" >&2
fi

# Headless Chromium (Debian's package), for the tests that render the HTML review in a real
# browser and read its DOM.
if command -v chromium >/dev/null 2>&1; then
  echo "install-test-deps: $(chromium --version 2>/dev/null | head -n 1)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: apt-get install -y chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  echo "install-test-deps: $(chromium --version 2>/dev/null | head -n 1)"
else
  echo "install-test-deps: WARNING: no chromium; the HTML review tests need it (sudo apt-get install chromium)" >&2
fi
