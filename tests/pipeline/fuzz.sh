#!/usr/bin/env bash
# The fuzz targets' short run in the pipeline (sourced by build.sh).

# Every fuzz target of rust/enet-proto/fuzz, with the committed seed corpus it starts from.
readonly FUZZ_TARGETS=(parse_datagram:parse_datagram host_datagrams:host_datagrams
    host_secured:host_datagrams decompress:decompress dtls_records:dtls_records)
readonly CARGO_FUZZ_VERSION=0.13.2

# Runs each fuzz target for SECONDS from its seeds, with debug assertions and overflow checks on
# (`cargo fuzz run -a`), so a parser or host crash fails the run. cargo-fuzz is installed into
# $RUST_ENET_CACHE/tools; stable rustc takes its nightly flags with RUSTC_BOOTSTRAP=1. New corpus
# entries go to a temporary folder, not into the repository; a crash leaves its input in
# rust/enet-proto/fuzz/artifacts/. Prints the runs per target.
run_fuzz_smoke() { # SECONDS
    local seconds=$1 tools=$RUST_ENET_CACHE/tools
    local fuzz_dir=$REPO/rust/enet-proto/fuzz entry target seeds work out runs problem="" summary=""
    if [[ ! -x $tools/bin/cargo-fuzz ]]; then
        log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" >&2 ||
            die "could not install cargo-fuzz"
    fi
    # Every cargo-fuzz call: from the fuzz crate, stable rustc, debug assertions, cached build.
    cargo_fuzz() { # SUBCOMMAND ARGS...
        (cd "$fuzz_dir" && RUSTC_BOOTSTRAP=1 "$tools/bin/cargo-fuzz" "$1" -a \
            --target-dir "$RUST_ENET_CACHE/target-fuzz" "${@:2}")
    }
    log "fuzzing: ${#FUZZ_TARGETS[@]} targets, $seconds s each (cargo fuzz run -a)"
    cargo_fuzz build >&2 || die "the fuzz targets do not build"
    work=$(mktemp -d)
    for entry in "${FUZZ_TARGETS[@]}"; do
        target=${entry%%:*} seeds=${entry#*:}
        mkdir -p "$work/$target"
        out=$work/$target.log
        cargo_fuzz run "$target" "$work/$target" "corpus/$seeds" \
            -- -max_total_time="$seconds" -max_len=16384 >"$out" 2>&1 || problem="crashed"
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out" | tail -n 1)
        [[ -n ${problem:-} || -n $runs ]] || problem="did not run"
        if [[ -n ${problem:-} ]]; then
            tail -n 40 "$out" >&2
            rm -rf "$work"
            die "fuzz target $target $problem; a crash leaves its input in rust/enet-proto/fuzz/artifacts/$target/"
        fi
        log "fuzz $target: $runs runs in $seconds s, no crash"
        summary+="${summary:+, }$target $runs runs"
    done
    rm -rf "$work"
    printf '%s (%s s each, no crash)\n' "$summary" "$seconds"
}
