#!/usr/bin/env bash
# Builds the benchmark suite in release mode and runs it: rust_enet and C ENet side by side,
# one table on stdout. Arguments go to the binary (--quick, --json FILE, --only NAME, --help).
# Meant to be wired as `./build.sh bench`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}/target}
cd "$REPO"
# Scenario 3b opens one socket per idle client (4000 in the client process): lift the soft
# open-file limit to the hard one where that is allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -p rust_enet_bench >&2
exec "$CARGO_TARGET_DIR/release/rust-enet-bench" "$@"
