#!/usr/bin/env bash
# What every part of the pipeline shares (sourced by build.sh before the other files of
# tests/pipeline/): the paths, which are set once here and never changed, and the log helpers.
#
# The other files hold functions only. Each takes what it works on (a platform, a Godot command)
# as arguments; none sets a global that another reads.

# A function that dies inside `$(...)` must end the whole run, not only its subshell.
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUST_ENET_CACHE=${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$RUST_ENET_CACHE/target}
ADDON_DIR=$REPO/addons/rust_enet
PROJECT_DIR=$REPO/godot-project
PROJECT_ADDON_DIR=$PROJECT_DIR/addons/rust_enet
# Minimum compiler for gdext 0.5 (rust/enet-godot/Cargo.toml rust-version).
MIN_RUST=1.94
readonly REPO RUST_ENET_CACHE ADDON_DIR PROJECT_DIR PROJECT_ADDON_DIR MIN_RUST

CARGO_LOCKED=()
[[ -n ${CI:-} ]] && CARGO_LOCKED=(--locked)
readonly CARGO_LOCKED

# Each line carries the minutes and seconds since the command started, so a log shows where the
# time went.
log() { printf '==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
die() {
    printf 'build.sh: error: %s\n' "$*" >&2
    exit 1
}

# Sums the "N passed/failed/ignored" counts of cargo's `test result:` lines in LOG.
cargo_test_counts() { # LOG
    awk '/^test result:/ {
            for (i = 1; i < NF; i++) {
                if ($(i + 1) ~ /^passed/) p += $i
                if ($(i + 1) ~ /^failed/) f += $i
                if ($(i + 1) ~ /^ignored/) g += $i
            }
        } END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$1"
}

# Runs CMD... with its output shown and kept; dies with WHAT and the counts when it fails.
# Prints the counts of cargo's test lines.
run_cargo_tests() { # WHAT CMD...
    local what=$1 out rc=0 counts
    shift
    out=$(mktemp)
    "$@" 2>&1 | tee "$out" >&2 || rc=${PIPESTATUS[0]}
    counts=$(cargo_test_counts "$out")
    rm -f "$out"
    [[ $rc -eq 0 ]] || die "$what failed ($counts)"
    printf '%s\n' "$counts"
}
