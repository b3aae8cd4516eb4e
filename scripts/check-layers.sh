#!/usr/bin/env bash
# The workspace's layering, checked on the resolved dependency graph: the domain crate
# (crpack-core) and the runner link no command-line, terminal or server crate, and nothing
# but the binary links the sandbox. Exits 1 naming each crate that crossed a line.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
cross() { echo "layering: $*" >&2; fail=1; }

for pkg in crpack-core crpack-runner; do
  # Every crate the package links in a normal build, and the features each is built with.
  tree=$(cargo tree --locked -p "$pkg" -e normal,features --prefix none)
  crates=$(awk '{print $1}' <<<"$tree" | sort -u)
  for bad in clap clap_complete clap_mangen indicatif anstream anstyle s3s crpack-sandbox; do
    if grep -qx "$bad" <<<"$crates"; then cross "$pkg links $bad (only the crpack binary may)"; fi
  done
  for crate in hyper hyper-util; do
    if grep -qx "$crate feature \"server\"" <<<"$tree"; then
      cross "$pkg links $crate with its server feature (only crpack-sandbox may)"
    fi
  done
  if [ "$pkg" = crpack-core ] && grep -qx crpack-runner <<<"$crates"; then
    cross "crpack-core links crpack-runner (the runner builds on the core, not the reverse)"
  fi
done
# Without its default sandbox feature the binary links no sandbox.
bin=$(cargo tree --locked -p crpack -e normal --no-default-features --prefix none | awk '{print $1}' | sort -u)
if grep -qx crpack-sandbox <<<"$bin"; then cross "crpack links crpack-sandbox without the sandbox feature"; fi

if [ "$fail" = 0 ]; then
  echo "layering: ok (crpack-core and crpack-runner link no CLI, terminal or server crate)"
fi
exit "$fail"
