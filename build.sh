#!/usr/bin/env bash
# rust_enet build, package and test pipeline.
#
#   ./build.sh build [--platform P]...  release addon: addons/rust_enet/bin/, synced into
#                      godot-project/addons/; P is linux-x86_64 (default), windows-x86_64,
#                      linux-arm64 or all (cross builds: tests/cross.sh)
#   ./build.sh test    fmt check, the /// docs against the class reference (tests/sync_docs.py),
#                      clippy -D warnings, cargo tests, the headless Godot suites,
#                      the class reference check, the cross tests and builds (cross-test) and a
#                      short run of every fuzz target
#   ./build.sh cross-test [P...]  core and driver tests for windows-x86_64 (under wine) and
#                      linux-arm64 (under qemu-aarch64), then those addon builds and their checks
#   ./build.sh package [--platform P]...  build every platform (or those named), then write
#                      rust_enet-VERSION.zip (Godot AssetLib layout) in the repository root
#   ./build.sh demo [--builtin]  build, then a headless server and two clients exchanging RPCs
#                      through RustENetPeer (--builtin: Godot's ENetMultiplayerPeer instead)
#   ./build.sh suites [FILTER...]  build, then only the Godot suites (cases matching FILTER)
#   ./build.sh docs    the /// docs against the class reference, then build and check the class
#                      reference (editor help) against the API and in a headless editor (also
#                      part of `test`)
#   ./build.sh render  build, then render the network overlay under Xvfb and check the two
#                      screenshots (godot-project/.godot/render/; also part of `test`)
#   ./build.sh godot [ARGS...]   run the test project's Godot with ARGS (after `build`)
#   ./build.sh bench [--quick] [ARGS...]  Godot scenario 6 + rust/enet-bench vs C ENet, one table
#   ./build.sh flood [ARGS...]  spoofed-CONNECT flood vs rust_enet, C ENet and Godot servers
#   ./build.sh fuzz    every fuzz target for RUST_ENET_FUZZ_SECONDS (default 60) each (also part
#                      of `test`)
#
# Environment:
#   RUST_ENET_CACHE   cache root outside the repository (default ~/.cache/rust_enet)
#   CARGO_TARGET_DIR  cargo target directory (default $RUST_ENET_CACHE/target)
#   GODOT             a Godot 4.x binary to use; otherwise `godot` on PATH if it is 4.x;
#                     otherwise a Debian sid root with Debian's `godot` package is provisioned
#                     in $RUST_ENET_CACHE/godot-root (mmdebstrap, needs root) and run with chroot.
#   GODOT_SUITE_TIMEOUT  seconds the whole Godot test run may take (default 900)
#   RUST_ENET_CROSS_ROUTE  rustup or sid: force a route for the cross builds (tests/cross.sh)
#   CI                when set, Cargo.lock must be up to date (--locked) and the addon copy in
#                     godot-project must already match addons/rust_enet.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUST_ENET_CACHE=${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$RUST_ENET_CACHE/target}
ADDON_DIR=$REPO/addons/rust_enet
PROJECT_DIR=$REPO/godot-project
PROJECT_ADDON_DIR=$PROJECT_DIR/addons/rust_enet
GODOT_ROOT=$RUST_ENET_CACHE/godot-root
# Must match the linux.x86_64 entry of addons/rust_enet/rust_enet.gdextension.
LIB_NAME=librust_enet.linux.x86_64.so
# Minimum compiler for gdext 0.5 (rust/enet-godot/Cargo.toml rust-version).
MIN_RUST=1.94

CARGO_LOCKED=()
[[ -n ${CI:-} ]] && CARGO_LOCKED=(--locked)

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'build.sh: error: %s\n' "$*" >&2
    exit 1
}

# --- Provisioning: system packages, Rust, Godot (tests/provision.sh) ---------------------------

# shellcheck source=tests/provision.sh
source "$REPO/tests/provision.sh"
# shellcheck source=tests/cross.sh
source "$REPO/tests/cross.sh"

# --- Building and packaging the addon ---------------------------------------------------------

build_addon() {
    log "building the rust_enet GDExtension (release) into $CARGO_TARGET_DIR"
    cargo build -p rust_enet --release "${CARGO_LOCKED[@]}"
    local built=$CARGO_TARGET_DIR/release/librust_enet.so
    [[ -f $built ]] || die "cargo did not produce $built"
    mkdir -p "$ADDON_DIR/bin"
    # Copy then rename, so a Godot process that has the old library mapped keeps a valid file.
    # The addon gets the library without debug info (the workspace's release profile keeps it
    # for profiling; the copy in $CARGO_TARGET_DIR still has it).
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug -o "$ADDON_DIR/bin/$LIB_NAME.tmp" "$built"
    else
        cp "$built" "$ADDON_DIR/bin/$LIB_NAME.tmp"
    fi
    mv -f "$ADDON_DIR/bin/$LIB_NAME.tmp" "$ADDON_DIR/bin/$LIB_NAME"
    log "addon library: addons/rust_enet/bin/$LIB_NAME ($(du -h "$ADDON_DIR/bin/$LIB_NAME" | cut -f1))"
    sync_project_addon
}

# godot-project/addons/rust_enet is a committed copy of addons/rust_enet (without binaries), kept
# identical here so nobody copies by hand. The `.uid` files the Godot editor (4.4+) writes next to
# the copy's files are left alone.
sync_project_addon() {
    if [[ -d $PROJECT_ADDON_DIR ]] &&
        ! diff -r -q -x bin -x '*.uid' "$ADDON_DIR" "$PROJECT_ADDON_DIR" >/dev/null; then
        if [[ -n ${CI:-} ]]; then
            diff -r -x bin -x '*.uid' "$ADDON_DIR" "$PROJECT_ADDON_DIR" >&2 || true
            die "godot-project/addons/rust_enet differs from addons/rust_enet; run ./build.sh build and commit the result"
        fi
        log "addons/rust_enet changed: updating godot-project/addons/rust_enet (commit both)"
    fi
    local tmp=$PROJECT_DIR/addons/.rust_enet.sync.tmp
    rm -rf "$tmp"
    mkdir -p "$PROJECT_DIR/addons"
    cp -a "$ADDON_DIR" "$tmp"
    if [[ -d $PROJECT_ADDON_DIR ]]; then
        (cd "$PROJECT_ADDON_DIR" && find . -name '*.uid' -exec cp --parents {} "$tmp" \;)
    fi
    rm -rf "$PROJECT_ADDON_DIR"
    mv "$tmp" "$PROJECT_ADDON_DIR"
}

DOCS_SUMMARY="" # what check_class_docs found
RENDER_SUMMARY="" # what run_render_check found

# Renders the network overlay (addons/rust_enet/debug/) for real: Godot's OpenGL renderer on
# Mesa under Xvfb, two screenshots into godot-project/.godot/render/, which must show something
# and differ (godot-project/tests/render/overlay_render.gd).
run_render_check() {
    if [[ ${#GODOT_RENDER_CMD[@]} -eq 0 ]]; then
        RENDER_SUMMARY="skipped: no xvfb-run for this Godot"
        log "overlay render check $RENDER_SUMMARY"
        return
    fi
    log "rendering the network overlay under Xvfb (OpenGL on Mesa)"
    local out rc=0
    out=$(timeout --kill-after=10 120 "${GODOT_RENDER_CMD[@]}" --path "$GODOT_PROJECT" \
        --rendering-driver opengl3 res://tests/render/overlay_render.tscn 2>&1) || rc=$?
    local result
    result=$(sed -n 's/^RENDER_RESULT //p' <<<"$out" | tail -n 1)
    if [[ $rc -ne 0 || -z $result ]]; then
        printf '%s\n' "$out" | tail -n 30 >&2
        die "the overlay render check failed (exit code $rc): ${result:-no result}"
    fi
    RENDER_SUMMARY="$result (screenshots in godot-project/.godot/render/)"
    log "overlay render check: $RENDER_SUMMARY"
}

# Lines in Godot's output that fail a run even when the runner itself passed.
GODOT_FAILURE_PATTERNS=(
    'SCRIPT ERROR'
    'Parse Error'
    "Can't open dynamic library"
    'GDExtension dynamic library not found'
    'entry point .* not found'
    'Error loading extension'
    'Failed loading resource'
    'leaked at exit'
    'resources still in use at exit'
    'Orphan StringName'
)

# Runner filters for the suites built on tests/lib/differential.gd (the built-in peer validates
# each scenario), one `test_x::` per suite file.
differential_suites() {
    grep -l '^extends "res://tests/lib/differential.gd"' "$PROJECT_DIR"/tests/test_*.gd |
        sed 's|.*/||; s|\.gd$|::|'
}

# Runs the headless Godot suites. Arguments are passed to the runner as filters.
run_godot_suites() {
    [[ ${#GODOT_CMD[@]} -gt 0 ]] || find_godot
    # No `--import`: the committed .godot/extension_list.cfg makes Godot load the addon, and the
    # suites use no imported assets.
    log "running the Godot suites: godot --headless --path godot-project${*:+ -- $*}"
    local out rc=0
    out=$(mktemp)
    timeout --kill-after=10 "${GODOT_SUITE_TIMEOUT:-900}" \
        "${GODOT_CMD[@]}" --headless --path "$GODOT_PROJECT" ${1:+--} "$@" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
    local problems summary alternatives
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    alternatives=$(printf '(%s)|' "${GODOT_FAILURE_PATTERNS[@]}")
    problems=$(grep -E -- "${alternatives%|}" "$out" | sed 's/^/    /' || true)
    rm -f "$out"
    [[ -n $summary ]] || die "the Godot runner printed no summary line (exit code $rc): the test project did not run to the end"
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then die "Godot suites timed out"; fi
    [[ -z $problems ]] || die "Godot suites failed ($summary, exit code $rc); errors in Godot's output:
$problems"
    [[ $rc -eq 0 ]] || die "Godot suites failed ($summary, exit code $rc)"
    GODOT_SUMMARY=$summary
}

# Checks the editor help pages of the classes (rust/enet-godot/doc_classes, compiled into the
# addon). First against the API: the skeleton `godot --doctool --gdextension-docs` generates from
# the loaded extension must be exactly our files with their description text removed (same
# classes, methods, signatures, members and constants), and no description may be empty. Then in
# a headless editor: the test project's docs_check plugin opens each class's help page and
# requires every description to be shown (Godot 4.3+; 4.2 editors cannot load extension docs).
check_class_docs() {
    [[ ${#GODOT_CMD[@]} -gt 0 ]] || find_godot
    local docs=$REPO/rust/enet-godot/doc_classes skeleton=$PROJECT_DIR/.godot/doc_skeleton
    log "checking the class reference in rust/enet-godot/doc_classes against the API (godot --doctool)"
    rm -rf "$skeleton"
    mkdir -p "$skeleton"
    "${GODOT_CMD[@]}" --headless --path "$GODOT_PROJECT" --doctool .godot/doc_skeleton --gdextension-docs \
        >/dev/null 2>&1 || die "godot --doctool --gdextension-docs failed"
    diff -q <(cd "$docs" && ls) <(cd "$skeleton/doc_classes" && ls) >/dev/null ||
        die "the classes in rust/enet-godot/doc_classes ($(cd "$docs" && echo *)) are not the extension's ($(cd "$skeleton/doc_classes" && echo *))"
    local xml name problems=""
    for xml in "$docs"/*.xml; do
        name=$(basename "$xml")
        # Description text is every line that does not start (after tabs) with a tag.
        if ! diff -u "$skeleton/doc_classes/$name" <(grep -E $'^\t*<' "$xml") >"$skeleton/$name.diff"; then
            problems+="  $name does not match the API; differences (- what the API has, + ours):"$'\n'
            problems+=$(sed -n '3,$p' "$skeleton/$name.diff")$'\n'
        fi
        # An opening tag of a description, member or constant followed at once by its closing tag.
        problems+=$(awk -v file="$name" '
            previous ~ /^\t*<(brief_description|description|member [^>]*[^\/]|constant [^>]*[^\/])>$/ && $0 ~ /^\t*<\// {
                printf "  %s:%d: empty description after %s\n", file, NR - 1, previous
            }
            { previous = $0 }' "$xml")
    done
    [[ -z $problems ]] || die "the class reference does not match the extension:
$problems
Regenerate the skeleton with ./build.sh godot --headless --doctool DIR --gdextension-docs and describe what is new."
    rm -rf "$skeleton"
    case $GODOT_VERSION in
        4.[0-2].* | 4.[0-2])
            log "Godot $GODOT_VERSION cannot show extension docs in its editor (4.3+); skipping the editor check"
            DOCS_SUMMARY="matches the API (editor check skipped: Godot $GODOT_VERSION)"
            return
            ;;
    esac
    # An editor that finds no help cache (first start, or after --doctool, which deletes it)
    # rebuilds it and shows extension pages empty until the next start: Godot merges extension
    # docs only into a loaded cache. So one editor run to rebuild the cache first.
    log "checking that a headless editor shows the class reference (addons/rust_enet_docs_check)"
    timeout --kill-after=10 300 "${GODOT_CMD[@]}" --headless --editor --path "$GODOT_PROJECT" --quit \
        >/dev/null 2>&1 || die "the headless editor did not start and quit"
    local out rc=0
    out=$(timeout --kill-after=10 300 "${GODOT_CMD[@]}" --headless --editor --path "$GODOT_PROJECT" \
        -- --check-class-docs 2>&1) || rc=$?
    grep -E '^class docs check' <<<"$out" || true
    if [[ $rc -ne 0 ]] || ! grep -qx 'class docs check: OK' <<<"$out"; then
        printf '%s\n' "$out" | tail -n 40 >&2
        die "the editor does not show the class reference (exit code $rc)"
    fi
    DOCS_SUMMARY="matches the API and the editor shows every description"
}

# --- Fuzzing ---------------------------------------------------------------------------------

# Every fuzz target of rust/enet-proto/fuzz, with the committed seed corpus it starts from.
FUZZ_TARGETS=(parse_datagram:parse_datagram host_datagrams:host_datagrams
    host_secured:host_datagrams decompress:decompress dtls_records:dtls_records)
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SUMMARY=""

# Runs each fuzz target for RUST_ENET_FUZZ_SECONDS (default 60) from its seeds, with debug
# assertions and overflow checks on (`cargo fuzz run -a`), so a parser or host crash fails the
# run. cargo-fuzz is installed into $RUST_ENET_CACHE/tools; stable rustc takes its nightly flags
# with RUSTC_BOOTSTRAP=1. New corpus entries go to a temporary folder, not into the repository;
# a crash leaves its input in rust/enet-proto/fuzz/artifacts/.
run_fuzz_smoke() {
    local seconds=${RUST_ENET_FUZZ_SECONDS:-60} tools=$RUST_ENET_CACHE/tools
    local fuzz_dir=$REPO/rust/enet-proto/fuzz entry target seeds work out runs problem=""
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
    FUZZ_SUMMARY=""
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
        FUZZ_SUMMARY+="${FUZZ_SUMMARY:+, }$target $runs runs"
    done
    rm -rf "$work"
}

# --- Subcommands ------------------------------------------------------------------------------

ALL_PLATFORMS=(linux-x86_64 "${CROSS_PLATFORMS[@]}")
PLATFORMS=() # what --platform chose

# Reads `--platform P` options (P may be `all`) into PLATFORMS, DEFAULT... when there are none.
parse_platforms() { # "DEFAULT..." ARGS...
    local defaults=$1
    shift
    PLATFORMS=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --platform)
                [[ $# -ge 2 ]] || die "--platform needs a value: ${ALL_PLATFORMS[*]} or all"
                if [[ $2 == all ]]; then PLATFORMS+=("${ALL_PLATFORMS[@]}"); else PLATFORMS+=("$2"); fi
                shift 2
                ;;
            --platform=*)
                set -- --platform "${1#--platform=}" "${@:2}"
                ;;
            *) die "unknown argument '$1' (expected --platform ${ALL_PLATFORMS[*]// /|}|all)" ;;
        esac
    done
    # shellcheck disable=SC2206 # the defaults are plain words
    [[ ${#PLATFORMS[@]} -gt 0 ]] || PLATFORMS=($defaults)
    local platform
    for platform in "${PLATFORMS[@]}"; do
        [[ $platform == linux-x86_64 ]] || cross_platform "$platform"
    done
}

# Builds the release addon for each platform of PLATFORMS.
build_platforms() {
    local platform
    for platform in "${PLATFORMS[@]}"; do
        if [[ $platform == linux-x86_64 ]]; then
            ensure_packages "building the addon" "${PKGS_BUILD[@]}"
            ensure_rust
            build_addon
        else
            ensure_rust
            build_cross_addon "$platform"
        fi
    done
}

cmd_build() {
    parse_platforms linux-x86_64 "$@"
    build_platforms
    log "done: addons/rust_enet is ready to copy into a Godot project (${PLATFORMS[*]})"
}

cmd_cross_test() {
    local t0=$SECONDS platform
    for platform in "$@"; do cross_platform "$platform"; done
    ensure_rust
    run_cross_platforms "$@"
    log "summary:"
    printf '%s\n' "${CROSS_SUMMARY[@]}"
    printf 'build.sh cross-test: OK in %d s\n' $((SECONDS - t0))
}

# Writes rust_enet-VERSION.zip in Godot's AssetLib layout: addons/rust_enet/ (the addon with the
# libraries of every platform in bin/, and LICENSE), plus LICENSE and README.md at the top.
cmd_package() {
    parse_platforms "${ALL_PLATFORMS[*]}" "$@"
    build_platforms
    local version zip
    version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml")
    [[ -n $version ]] || die "no version in Cargo.toml's [workspace.package]"
    zip=$REPO/rust_enet-$version.zip
    write_package "$zip"
}

PKGS_PACKAGE=(zip:'command -v zip')

# The addon's committed files (never test fixtures or editor leftovers), the libraries the
# .gdextension names that are built, LICENSE in the addon and at the top, README.md at the top.
write_package() { # ZIP
    local zip=$1 stage file lib built=()
    ensure_packages "packaging" "${PKGS_PACKAGE[@]}"
    [[ -f $REPO/LICENSE ]] || die "LICENSE is missing"
    stage=$(mktemp -d)
    mkdir -p "$stage/addons/rust_enet/bin"
    while IFS= read -r file; do
        case /$file in */tests/* | */test/* | */fixtures/* | */bin/*) continue ;; esac
        mkdir -p "$stage/$(dirname "$file")"
        cp "$REPO/$file" "$stage/$file"
    done < <(cd "$REPO" && git ls-files addons/rust_enet)
    for lib in $(sed -n 's|^[a-z0-9._]* = "res://addons/rust_enet/bin/\(.*\)"$|\1|p' "$ADDON_DIR/rust_enet.gdextension"); do
        [[ -f $ADDON_DIR/bin/$lib ]] || continue
        cp "$ADDON_DIR/bin/$lib" "$stage/addons/rust_enet/bin/"
        built+=("$lib")
    done
    [[ ${#built[@]} -gt 0 ]] || die "no library in addons/rust_enet/bin; build first"
    cp "$REPO/LICENSE" "$stage/addons/rust_enet/LICENSE"
    cp "$REPO/LICENSE" "$REPO/README.md" "$stage/"
    rm -f "$zip"
    (cd "$stage" && zip -q -X -r "$zip" LICENSE README.md addons) || die "zip failed"
    rm -rf "$stage"
    log "package: $(basename "$zip") ($(du -h "$zip" | cut -f1)) with ${built[*]}"
    zip -sf "$zip" >&2
}

cmd_test() {
    local t0=$SECONDS cargo_log
    ensure_packages "the tests (C ENet is the interop tests' reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}"
    ensure_rust
    ensure_rust_component rustfmt
    ensure_rust_component clippy
    # Godot first: if it cannot be found or provisioned, fail now rather than after the build.
    find_godot
    cd "$REPO"

    log "cargo fmt --check"
    cargo fmt --all -- --check || die "code is not formatted; run cargo fmt --all"

    log "the classes' /// docs match the class reference (tests/sync_docs.py --check)"
    python3 "$REPO/tests/sync_docs.py" --check ||
        die "doc comments differ from rust/enet-godot/doc_classes; run tests/sync_docs.py"

    log "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets "${CARGO_LOCKED[@]}" -- -D warnings

    log "cargo test --workspace"
    cargo_log=$(mktemp)
    cargo test --workspace "${CARGO_LOCKED[@]}" 2>&1 | tee "$cargo_log" || {
        rm -f "$cargo_log"
        die "cargo tests failed"
    }
    local cargo_passed cargo_failed
    cargo_passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$cargo_log")
    cargo_failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i } END { print n + 0 }' "$cargo_log")
    rm -f "$cargo_log"

    build_addon
    run_godot_suites "$@"
    local suites_on=$GODOT_SUMMARY
    # The differential suites again with RustENetPeer's service thread off (the setting's
    # default is on), so the observable behaviour is shown to be the same both ways.
    local differential
    mapfile -t differential < <(differential_suites)
    run_godot_suites --service-thread=off "${differential[@]}"
    GODOT_SUMMARY="$suites_on; thread off, differential suites: $GODOT_SUMMARY"
    run_render_check
    check_class_docs
    run_cross_platforms
    run_fuzz_smoke

    log "summary:"
    printf 'cargo tests: %s passed, %s failed\n' "${cargo_passed:-0}" "${cargo_failed:-0}"
    printf 'godot suites: %s\n' "$GODOT_SUMMARY"
    printf 'overlay render check: %s\n' "$RENDER_SUMMARY"
    printf 'class reference: %s\n' "$DOCS_SUMMARY"
    printf '%s\n' "${CROSS_SUMMARY[@]}"
    printf 'fuzzing: %s (%s s each, no crash)\n' "$FUZZ_SUMMARY" "${RUST_ENET_FUZZ_SECONDS:-60}"
    printf 'build.sh test: OK in %d s\n' $((SECONDS - t0))
}

cmd_suites() {
    ensure_packages "building the addon" "${PKGS_BUILD[@]}"
    ensure_rust
    build_addon
    run_godot_suites "$@"
}

cmd_docs() {
    ensure_packages "building the addon" "${PKGS_BUILD[@]}"
    ensure_rust
    python3 "$REPO/tests/sync_docs.py" --check ||
        die "doc comments differ from rust/enet-godot/doc_classes; run tests/sync_docs.py"
    build_addon
    check_class_docs
    log "class reference: $DOCS_SUMMARY"
}

cmd_godot() {
    find_godot
    "${GODOT_CMD[@]}" --path "$GODOT_PROJECT" "$@"
}

cmd_demo() {
    local peer=rust
    case ${1:-} in
        "" | --rust) ;;
        --builtin) peer=builtin ;;
        *) die "usage: ./build.sh demo [--builtin]  (--builtin runs the demo with Godot's ENetMultiplayerPeer)" ;;
    esac
    ensure_packages "building the addon" "${PKGS_BUILD[@]}"
    ensure_rust
    build_addon
    find_godot
    log "running the demo: a headless server and two clients ($peer peer)"
    "$PROJECT_DIR/demo/run_demo.sh" "$peer" "$GODOT_PROJECT" "${GODOT_CMD[@]}"
}

# Benchmark scenario 6 (godot-project/bench: RustENetPeer vs ENetMultiplayerPeer, headless
# Godot), then rust/enet-bench/run.sh (scenarios 1-5 vs C ENet) with its own target directory
# ($CARGO_TARGET_DIR-bench), which prints one table with the Godot rows added. ARGS go to
# rust-enet-bench (--quick and --rounds N also shorten the Godot runs). Results are written to
# $RUST_ENET_CACHE/bench/{godot-rpc.jsonl,bench.json}. Nothing is asserted on time.
cmd_bench() {
    local rounds=3 seconds=5 warmup=1 i
    local args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
            --quick) rounds=1 seconds=2 warmup=0.5 ;;
            --rounds) rounds=${args[i + 1]:-$rounds} ;;
        esac
    done
    ensure_packages "the benchmarks (C ENet is their reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}"
    ensure_rust
    build_addon
    find_godot
    local out=$RUST_ENET_CACHE/bench
    mkdir -p "$out"
    local godot_json=$out/godot-rpc.jsonl
    : >"$godot_json"
    log "scenario 6: bench_rpc.tscn, $rounds round(s) of ${seconds} s per peer, alternating"
    "$PROJECT_DIR/bench/run_bench.sh" "$godot_json" "$rounds" "$GODOT_PROJECT" "${GODOT_CMD[@]}" \
        -- --seconds="$seconds" --warmup="$warmup" --clients=32
    local godot_rows=()
    if [[ -s $godot_json ]]; then
        godot_rows=(--godot-json "$godot_json")
    else
        log "scenario 6 produced no results; the table lists it as skipped"
    fi
    log "rust/enet-bench/run.sh ${args[*]}"
    CARGO_TARGET_DIR=$CARGO_TARGET_DIR-bench "$REPO/rust/enet-bench/run.sh" \
        --json "$out/bench.json" "${godot_rows[@]}" "${args[@]}"
    log "results: $godot_json, $out/bench.json"
}

# The handshake-flood run (rust/enet-bench/src/spoof.rs): spoofed CONNECTs from many loopback
# addresses against a rust_enet, a C ENet and a Godot built-in server with players on them.
# ARGS go to `rust-enet-bench flood-bench` (--seconds 30 --sources 20000 --rate 2000).
cmd_flood() {
    ensure_packages "the flood run (C ENet is a reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}"
    ensure_rust
    build_addon
    find_godot
    # run.sh builds the benchmarks and lifts the open-file limit (two source processes hold
    # 10,000 sockets each), as for ./build.sh bench.
    CARGO_TARGET_DIR=$CARGO_TARGET_DIR-bench "$REPO/rust/enet-bench/run.sh" flood-bench "$@" \
        --godot "$GODOT_PROJECT" "${GODOT_CMD[@]}"
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        build) cmd_build "$@" ;;
        test) cmd_test "$@" ;;
        cross-test) cmd_cross_test "$@" ;;
        package) cmd_package "$@" ;;
        demo) cmd_demo "$@" ;;
        suites) cmd_suites "$@" ;;
        docs) cmd_docs ;;
        render)
            ensure_packages "building the addon" "${PKGS_BUILD[@]}"
            ensure_rust
            find_godot
            build_addon
            run_render_check
            ;;
        godot) cmd_godot "$@" ;;
        bench) cmd_bench "$@" ;;
        flood) cmd_flood "$@" ;;
        fuzz)
            ensure_packages "fuzzing" "${PKGS_BUILD[@]}"
            ensure_rust
            run_fuzz_smoke
            log "fuzzing: $FUZZ_SUMMARY"
            ;;
        -h | --help | help) usage 0 ;;
        *) usage 1 ;;
    esac
}

main "$@"
