#!/usr/bin/env bash
# crpack benchmarks against the standard tools, in one run on this machine.
#
#   bash bench/run.sh            # full run (1 GiB hash, 10,000-file build, numpy + pandas +
#                                # pyarrow environment, 512 MiB upload/verify)
#   QUICK=1 bash bench/run.sh    # smaller inputs, for a smoke test of the script
#
# Prints a Markdown table (also written to bench/results.md). Each timing is the median of
# RUNS runs (default 3) with warm page cache; peak memory is the maximum resident set size.
# Needs: a release build (built here), sha256sum, openssl, zip, tar, /usr/bin/time, python3 with
# pip; installs the AWS CLI and venv-pack into bench/.venv from PyPI if they are not there. The
# environment workload downloads its wheels (bench/env-requirements.txt, and the same versions
# for the host) on its first run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-/tmp/crpack-bench}
if [ -n "${QUICK:-}" ]; then HASH_MB=128; FILES=1000; FILE_KB=20; UP_MB=64; else HASH_MB=1024; FILES=10000; FILE_KB=20; UP_MB=512; fi
mkdir -p "$WORK"

echo "== building crpack (release)" >&2
cargo build --release --locked --quiet
CRPACK=$ROOT/target/release/crpack

if [ ! -x bench/.venv/bin/aws ]; then
  echo "== installing the AWS CLI into bench/.venv" >&2
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet --disable-pip-version-check awscli
fi
if [ ! -x bench/.venv/bin/venv-pack ]; then
  echo "== installing venv-pack into bench/.venv" >&2
  bench/.venv/bin/pip install --quiet --disable-pip-version-check venv-pack
fi
AWSCLI=$ROOT/bench/.venv/bin/aws
VENVPACK=$ROOT/bench/.venv/bin/venv-pack

# median_time CMD...: prints "<median seconds> <max peak RSS KiB>" over $RUNS runs.
median_time() {
  local times=() rss=0 out t m
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>&1
    out=$(tail -n 1 "$WORK/time.out")
    t=${out% *}; m=${out#* }
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v r="$rss" '{a[NR]=$1} END {print a[int((NR+1)/2)], r}'
}

ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); echo "$1: $2 s ($4)" >&2; }
mib() { echo "$(( $1 / 1024 )) MiB"; }

# ---- hashing ----
echo "== hashing ${HASH_MB} MiB" >&2
H1=$WORK/hash-1.bin; H2=$WORK/hash-2.bin
[ -f "$H1" ] && [ "$(stat -c %s "$H1")" -eq $((HASH_MB << 20)) ] || head -c $((HASH_MB << 20)) /dev/urandom > "$H1"
[ -f "$H2" ] && [ "$(stat -c %s "$H2")" -eq $((HASH_MB << 20)) ] || head -c $((HASH_MB << 20)) /dev/urandom > "$H2"
cat "$H1" "$H2" > /dev/null
read -r t m < <(median_time "$CRPACK" hash "$H1"); row "hash ${HASH_MB} MiB" "$t" "crpack hash" "$(mib "$m") peak"
read -r t m < <(median_time sha256sum "$H1"); row "hash ${HASH_MB} MiB" "$t" "sha256sum" "$(mib "$m") peak"
read -r t m < <(median_time openssl dgst -sha256 "$H1"); row "hash ${HASH_MB} MiB" "$t" "openssl dgst -sha256" "$(mib "$m") peak"
read -r t m < <(median_time "$CRPACK" hash "$H1" "$H2"); row "hash 2 × ${HASH_MB} MiB" "$t" "crpack hash (parallel)" "$(mib "$m") peak"
read -r t m < <(median_time sha256sum "$H1" "$H2"); row "hash 2 × ${HASH_MB} MiB" "$t" "sha256sum" "$(mib "$m") peak"

# ---- building the bundle ----
echo "== building a ${FILES}-file tree" >&2
PROJ=$WORK/build-project
if [ ! -f "$PROJ/.complete-$FILES" ]; then
  rm -rf "$PROJ"; mkdir -p "$PROJ/src" "$PROJ/lib/pkg"
  python3 - "$PROJ/lib/pkg" "$FILES" "$FILE_KB" <<'PY'
import os, random, sys
root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz_') for _ in range(rng.randint(2, 10))) for _ in range(2000)]
for i in range(n):
    d = os.path.join(root, f"m{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    text, size = [], 0
    while size < kb * 1024:
        line = ' '.join(rng.choice(words) for _ in range(12)) + '\n'
        text.append(line); size += len(line)
    with open(os.path.join(d, f"f{i:05d}.py"), 'w') as f:
        f.write(''.join(text))
PY
  printf 'def entrypoint(context):\n    return {"results": {}}\n' > "$PROJ/src/entry.py"
  cat > "$PROJ/crpack.toml" <<'TOML'
[template]
name = "bench"
entry_point = "src/entry.py"
[bundle]
include = ["lib/pkg"]
TOML
  touch "$PROJ/.complete-$FILES"
fi
TREE_MB=$(du -sm "$PROJ/lib" | cut -f1)
read -r t m < <(median_time "$CRPACK" -C "$PROJ" build --out "$WORK/build-out"); row "build ${FILES} files / ${TREE_MB} MB" "$t" "crpack build" "$(mib "$m") peak"
read -r t m < <(median_time bash -c "cd '$PROJ/lib' && rm -f '$WORK/zip-out.zip' && zip -X -r -q '$WORK/zip-out.zip' pkg"); row "build ${FILES} files / ${TREE_MB} MB" "$t" "zip -X -r -q" "$(mib "$m") peak"

# ---- building the environment ----
# numpy + pandas + pyarrow for Linux aarch64 / CPython 3.11 from a warm wheel cache (QUICK: numpy
# alone), against pip installing the same wheel files into a directory for that platform plus
# tar czf, and venv-pack (the documented recipe) of a host venv with the same versions.
if [ -n "${QUICK:-}" ]; then ENV_PKGS="numpy"; else ENV_PKGS="numpy pandas pyarrow python-dateutil pytz six tzdata"; fi
echo "== building an environment of: $ENV_PKGS" >&2
PY=$(python3 -c 'import sys; print(sys.executable)')
export CRPACK_CACHE_DIR=$WORK/env-cache
EP=$WORK/env-project
rm -rf "$EP"
"$CRPACK" -q init "$EP" --name bench-env >/dev/null
# The pinned lines (with their --hash continuation lines) of the packages in ENV_PKGS.
awk -v keep=" $ENV_PKGS " '/^[^ #]/ {split($1, a, "=="); k = index(keep, " " a[1] " ") > 0} /^[^#]/ && k' \
  bench/env-requirements.txt > "$EP/env-requirements.txt"
sed -i 's|^requirements = .*|requirements = "env-requirements.txt"|' "$EP/crpack.toml"
grep -q '^requirements = "env-requirements.txt"$' "$EP/crpack.toml"
# Warm the cache (pip downloads the aarch64 wheels the first time); not timed.
"$CRPACK" -q -C "$EP" build >/dev/null
PINS=$(awk '/^[^ #]/ {print $1}' "$EP/env-requirements.txt" | tr '\n' ' ')
WHEELS=()
for h in $(grep -o 'sha256:[0-9a-f]*' "$EP/env-requirements.txt" | cut -d: -f2); do
  WHEELS+=("$(ls "$CRPACK_CACHE_DIR/wheels/sha256/${h:0:2}/$h/"*.whl)")
done
WHEEL_MB=$(du -cm "${WHEELS[@]}" | tail -n 1 | cut -f1)
ENV_LABEL="env $(echo "$ENV_PKGS" | awk '{print $1 ($2 ? " + " $2 : "") ($3 ? " + " $3 : "")}') ($([ "${#WHEELS[@]}" -gt 1 ] && echo "${#WHEELS[@]} wheels" || echo "1 wheel"), ${WHEEL_MB} MB)"
need() { [ -s "$1" ] || { echo "bench: $1 was not written; run the command above by hand to see why" >&2; exit 1; }; }
size_mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.0f MiB", b / 1048576}'; }

read -r t m < <(median_time "$CRPACK" -C "$EP" build)
row "$ENV_LABEL" "$t" "crpack build (aarch64, warm cache)" "$(mib "$m") peak, archive $(size_mib "$EP/dist/pyspark_venv.tar.gz")"

# The same wheel files, installed for the target by pip (offline, no .pyc, like crpack), then
# packed with tar czf; rm of the previous run's output included.
PIPT=$WORK/pip-target
read -r t m < <(median_time bash -c "rm -rf '$PIPT' '$WORK/pip-target.tar.gz' && '$PY' -m pip install --quiet --disable-pip-version-check --no-index --no-compile --no-deps --target '$PIPT' --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --only-binary=:all: ${WHEELS[*]} && tar czf '$WORK/pip-target.tar.gz' -C '$PIPT' .")
need "$WORK/pip-target.tar.gz"
row "$ENV_LABEL" "$t" "pip install --target --platform manylinux2014_aarch64 (same wheels), then tar czf" "$(mib "$m") peak, archive $(size_mib "$WORK/pip-target.tar.gz")"

# venv-pack of a host (x86_64) venv with the same versions from the index, pip's cache warm.
HV=$WORK/host-venv
if [ ! -f "$HV/.complete" ] || [ "$(cat "$HV/.complete")" != "$PINS" ]; then
  rm -rf "$HV"
  "$PY" -m venv "$HV"
  "$HV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" > "$HV/.complete"
fi
read -r t m < <(median_time "$VENVPACK" -q -f -p "$HV" -o "$WORK/venv-pack.tar.gz")
row "$ENV_LABEL" "$t" "venv-pack -o (of a host venv with the same versions)" "$(mib "$m") peak, archive $(size_mib "$WORK/venv-pack.tar.gz")"
HV2=$WORK/host-venv-2
read -r t m < <(median_time bash -c "rm -rf '$HV2' && '$PY' -m venv '$HV2' && '$HV2/bin/pip' install --quiet --disable-pip-version-check $PINS && '$VENVPACK' -q -f -p '$HV2' -o '$WORK/venv-pack-2.tar.gz'")
need "$WORK/venv-pack-2.tar.gz"
row "$ENV_LABEL" "$t" "python3 -m venv + pip install (host, pip cache warm) + venv-pack -o" "$(mib "$m") peak, archive $(size_mib "$WORK/venv-pack-2.tar.gz")"
unset CRPACK_CACHE_DIR

# ---- upload and verify against the sandbox ----
echo "== uploading and verifying ${UP_MB} MiB through the sandbox" >&2
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$WORK/sandbox" "$WORK/seed.json"
"$CRPACK" sandbox --listen "127.0.0.1:$PORT" --data "$WORK/sandbox" --seed --seed-out "$WORK/seed.json" >/dev/null 2>&1 &
SB=$!
trap 'kill $SB 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/seed.json" ] && break; sleep 0.1; done
eval "$(python3 - "$WORK/seed.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = s["author"]
print(f'export AWS_ENDPOINT_URL={s["endpoint"]} AWS_REGION={s["region"]} AWS_ACCESS_KEY_ID={a["access_key_id"]} AWS_SECRET_ACCESS_KEY={a["secret_access_key"]}')
print(f'BUCKET={s["bucket"]} ROLE={s["role_arn"]} MEMBERSHIP={a["membership_id"]} PROVIDER_MEMBERSHIP={s["provider"]["membership_id"]}')
print(f'PROVIDER_KEY={s["provider"]["access_key_id"]} PROVIDER_SECRET={s["provider"]["secret_access_key"]} PROVIDER_ACCOUNT={s["provider"]["account_id"]}')
PY
)"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
UP=$WORK/upload-project
rm -rf "$UP"; mkdir -p "$UP/src" "$UP/build" "$UP/venv/lib/python3.11/site-packages"
# A gzip tar (publish checks the archive's native code first) of UP_MB random bytes, so the
# archive is UP_MB too.
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.11\n' > "$UP/venv/pyvenv.cfg"
head -c $((UP_MB << 20)) /dev/urandom > "$UP/venv/lib/python3.11/site-packages/blob.bin"
tar cf - -C "$UP/venv" . | gzip -1 > "$UP/build/pyspark_venv.tar.gz"
rm -rf "$UP/venv"
printf 'def entrypoint(context):\n    return {"results": {}}\n' > "$UP/src/entry.py"
publish_once() {
  # A fresh prefix per run, so every run uploads.
  local n=$1
  cat > "$UP/crpack.toml" <<TOML
[template]
name = "bench-upload"
entry_point = "src/entry.py"
[bundle]
archive = "build/pyspark_venv.tar.gz"
[publish]
bucket = "$BUCKET"
prefix = "bench/run-$n"
role_arn = "$ROLE"
membership_id = "$MEMBERSHIP"
TOML
  rm -f "$UP/crpack.lock"
}
times=(); rss=0
for i in $(seq "$RUNS"); do
  publish_once "$i"
  /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$CRPACK" -q -C "$UP" publish >/dev/null 2>&1
  out=$(tail -n 1 "$WORK/time.out")
  times+=("${out% *}"); [ "${out#* }" -gt "$rss" ] && rss=${out#* }
done
t=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
row "upload ${UP_MB} MiB" "$t" "crpack publish (build + single PUT + register)" "$(mib "$rss") peak"
read -r t m < <(median_time "$AWSCLI" s3 cp --quiet --checksum-algorithm SHA256 "$UP/build/pyspark_venv.tar.gz" "s3://$BUCKET/bench/awscli/venv.tar.gz")
row "upload ${UP_MB} MiB" "$t" "aws s3 cp --checksum-algorithm SHA256 (multipart, composite checksum)" "$(mib "$m") peak"

# Verify as the provider after the author grants read access.
TEMPLATE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["template"]["arn"])' "$UP/crpack.lock")
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifacts"][1]["key"])' "$UP/crpack.lock")
"$AWSCLI" s3api put-bucket-policy --bucket "$BUCKET" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$PROVIDER_ACCOUNT\"},\"Action\":[\"s3:GetObject\",\"s3:GetObjectVersion\",\"s3:ListBucketVersions\"],\"Resource\":\"arn:aws:s3:::$BUCKET/*\"}]}"
export AWS_ACCESS_KEY_ID=$PROVIDER_KEY AWS_SECRET_ACCESS_KEY=$PROVIDER_SECRET
read -r t m < <(median_time "$CRPACK" verify --template "$TEMPLATE" --membership "$PROVIDER_MEMBERSHIP" --from-s3)
row "verify ${UP_MB} MiB from S3" "$t" "crpack verify --from-s3 (one streaming pass)" "$(mib "$m") peak"
read -r t m < <(median_time bash -c "'$AWSCLI' s3 cp --quiet 's3://$BUCKET/$KEY' '$WORK/downloaded.bin' && sha256sum '$WORK/downloaded.bin'")
row "verify ${UP_MB} MiB from S3" "$t" "aws s3 cp, then sha256sum" "$(mib "$m") peak"

{
  echo "| workload | seconds (median of $RUNS) | tool | memory |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)."
} | tee bench/results.md
