#!/usr/bin/env bash
# rust_enet build, package and test pipeline.
#
#   ./build.sh check   the fast check before a commit: cargo fmt --check, the /// docs against
#                      the class reference (tests/sync_docs.py --check), clippy -D warnings and
#                      the cargo tests of the core, driver and adapter (no C ENet, no Godot)
#   ./build.sh test    everything, as CI runs it: check with the C ENet interop crates, the
#                      Linux x86_64 library and the headless Godot suites on it (service thread
#                      on, then off for the differential suites), the NAT lab (as root; where
#                      namespaces cannot be made it says so and names ./build.sh nat), the
#                      overlay render check, the class reference, the library loaded in Debian's
#                      oldest served release; beside those, in two background lanes: the
#                      Windows and arm64 tests under wine and qemu-user with their libraries,
#                      the macOS library's checks and a short run of every fuzz target
#                      (RUST_ENET_FUZZ_SECONDS, default 15 s each); last the arm64 library in
#                      Debian's arm64 Godot
#   ./build.sh build [--platform P]...  release addon libraries into addons/rust_enet/bin/ and
#                      the checks of each (P: linux-x86_64 (default), linux-arm64,
#                      windows-x86_64, macos, or all); synced into godot-project/addons/
#   ./build.sh package [--platform P]...  build every platform (or those named), then write
#                      rust_enet-VERSION.zip (Godot AssetLib layout) in the repository root
#   ./build.sh cross-test [P...]  the core and driver tests of windows-x86_64 (wine) and
#                      linux-arm64 (qemu-user), then those libraries and their checks
#   ./build.sh demo [--builtin]  build, then a headless server and two clients exchanging RPCs
#                      through RustENetPeer (--builtin: Godot's ENetMultiplayerPeer instead)
#   ./build.sh demo --nat  build, then the NAT lab's direct and relayed cases (a host and a
#                      joiner behind home routers simulated in network namespaces, as root),
#                      printing which path each join took
#   ./build.sh rendezvous [ARGS...]  build the rendezvous server (one static executable) and
#                      run it with ARGS (--help lists them)
#   ./build.sh nat [CASE,...]  build, then every NAT lab case (or those named), RUST_ENET_NAT_RUNS
#                      joins each (default 20), one table
#   ./build.sh suites [FILTER...]  build, then only the Godot suites (cases matching FILTER)
#   ./build.sh docs    the /// docs against the class reference, then build and check the class
#                      reference (editor help) against the API and in a headless editor
#   ./build.sh render  build, then render the network overlay under Xvfb and check it
#   ./build.sh godot [ARGS...]   run the test project's Godot with ARGS (after `build`)
#   ./build.sh bench [--quick] [ARGS...]  Godot scenario 6 + rust/enet-bench vs C ENet, one table
#   ./build.sh flood [ARGS...]  spoofed-CONNECT flood vs rust_enet, C ENet and Godot servers
#   ./build.sh fuzz    every fuzz target for RUST_ENET_FUZZ_SECONDS (default 30) each
#
# Environment:
#   RUST_ENET_CACHE   cache root outside the repository (default ~/.cache/rust_enet)
#   CARGO_TARGET_DIR  cargo target directory (default $RUST_ENET_CACHE/target)
#   GODOT             a Godot 4.x binary to use; otherwise `godot` on PATH if it is 4.x;
#                     otherwise a Debian sid root with Debian's `godot` package is provisioned
#                     in $RUST_ENET_CACHE/godot-root (mmdebstrap, needs root) and run with chroot.
#   GODOT_SUITE_TIMEOUT  seconds the whole Godot test run may take (default 900)
#   CI                when set, Cargo.lock must be up to date (--locked) and the addon copy in
#                     godot-project must already match addons/rust_enet.
#
# The work is done by the functions of tests/pipeline/: provision.sh (packages, Rust, zig,
# Debian trees, finding Godot), platforms.sh (each platform's library, its checks and tests),
# godot.sh (the Godot suites and checks) and fuzz.sh.
set -euo pipefail

# shellcheck source=tests/pipeline/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/tests/pipeline/common.sh"
# shellcheck source=tests/pipeline/provision.sh
source "$REPO/tests/pipeline/provision.sh"
# shellcheck source=tests/pipeline/platforms.sh
source "$REPO/tests/pipeline/platforms.sh"
# shellcheck source=tests/pipeline/godot.sh
source "$REPO/tests/pipeline/godot.sh"
# shellcheck source=tests/pipeline/fuzz.sh
source "$REPO/tests/pipeline/fuzz.sh"
# shellcheck source=tests/pipeline/nat.sh
source "$REPO/tests/pipeline/nat.sh"

# Seconds each fuzz target runs in `fuzz` and in `test` (RUST_ENET_FUZZ_SECONDS sets both).
FUZZ_SECONDS=${RUST_ENET_FUZZ_SECONDS:-30}
TEST_FUZZ_SECONDS=${RUST_ENET_FUZZ_SECONDS:-15}

# Reads `--platform P` options (P may be `all`) into the array OUT_VAR; DEFAULT... when none.
parse_platforms() { # OUT_VAR "DEFAULT..." ARGS...
    local -n chosen=$1
    local defaults=$2 platform
    shift 2
    chosen=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --platform)
                [[ $# -ge 2 ]] || die "--platform needs a value: ${PLATFORMS[*]} or all"
                if [[ $2 == all ]]; then chosen+=("${PLATFORMS[@]}"); else chosen+=("$2"); fi
                shift 2
                ;;
            --platform=*) set -- --platform "${1#--platform=}" "${@:2}" ;;
            *) die "unknown argument '$1' (expected --platform ${PLATFORMS[*]// /|}|all)" ;;
        esac
    done
    # shellcheck disable=SC2206 # the defaults are plain words
    [[ ${#chosen[@]} -gt 0 ]] || chosen=($defaults)
    for platform in "${chosen[@]}"; do known_platform "$platform"; done
}

# The Linux x86_64 library for this machine's Godot, synced into the test project.
build_host_library() {
    build_library linux-x86_64
    sync_project_addon
}

# fmt, the docs sync, clippy and the cargo tests; WORKSPACE: `--workspace` to include the crates
# that compile C ENet (tests/interop, rust/enet-bench), or nothing for the default members.
# Prints the cargo test counts.
cargo_checks() { # [--workspace]
    cd "$REPO"
    log "cargo fmt --check"
    cargo fmt --all -- --check >&2 || die "code is not formatted; run cargo fmt --all"
    log "the classes' /// docs match the class reference (tests/sync_docs.py --check)"
    python3 "$REPO/tests/sync_docs.py" --check >&2 ||
        die "doc comments differ from rust/enet-godot/doc_classes; run tests/sync_docs.py"
    # With the benchmark-only peer compiled in (feature bench-ceiling), so it is linted too.
    log "cargo clippy $* --all-targets --features rust_enet/bench-ceiling -- -D warnings"
    cargo clippy "$@" --all-targets --features rust_enet/bench-ceiling "${CARGO_LOCKED[@]}" -- -D warnings >&2 ||
        die "clippy found problems"
    log "cargo test $*"
    run_cargo_tests "cargo tests" cargo test "$@" "${CARGO_LOCKED[@]}"
}

cmd_check() {
    local t0=$SECONDS counts
    ensure_packages "the checks" "${PKGS_BUILD[@]}"
    ensure_rust
    ensure_rust_component rustfmt
    ensure_rust_component clippy
    counts=$(cargo_checks)
    printf 'cargo tests: %s\n' "$counts"
    printf 'build.sh check: OK in %d s\n' $((SECONDS - t0))
}

# The parts of `test` that need no Godot: two lanes that run in the background beside the Godot
# suites and the NAT lab, whose waits (stalls, router timeouts) leave the CPU idle. Each prints
# its summary lines; each platform builds in its own target directory (platform_target_dir).
# Balanced on a cold cache, where the lanes have a core each once the foreground is done: the
# Windows tests (about 14 min) and the two macOS slices (14 min) in one, the arm64 tests and
# library, the arm64 Godot tree, fuzzing (23 min) and the Windows library (3 min) in the other.
lane_windows_macos() {
    test_platform windows-x86_64
    build_library macos
    library_check_line macos
}

lane_arm64_fuzz_windows() {
    test_platform linux-arm64
    build_library linux-arm64
    library_check_line linux-arm64
    provision_arm64_godot >&2
    printf 'fuzzing: %s\n' "$(run_fuzz_smoke "$TEST_FUZZ_SECONDS")"
    build_library windows-x86_64
    library_check_line windows-x86_64
}

# Starts the lane function LANE in the background, in its own process group (so stop_lanes can
# end all of it), under SCHED_IDLE: it gets a CPU only when the foreground, whose tests measure
# time, leaves one idle (where chrt cannot set that, at nice 19). Its summary lines go to
# DIR/LANE.out and its log to DIR/LANE.log. Writes its pid into PID_VAR.
start_lane() { # PID_VAR DIR LANE
    local -n lane_pid=$1
    set -m
    (
        chrt --idle -p 0 "$BASHPID" >/dev/null 2>&1 || renice -n 19 -p "$BASHPID" >/dev/null
        "$3"
    ) >"$2/$3.out" 2>"$2/$3.log" &
    lane_pid=$!
    set +m
    log "started the $3 lane in the background (pid $lane_pid; its log follows when it ends)"
}

# Waits for the lane LANE (pid PID), copies its log into ours and appends its summary lines to
# the array SUMMARY_VAR; dies when it failed.
finish_lane() { # SUMMARY_VAR DIR LANE PID
    local -n lane_summary=$1
    local dir=$2 lane=$3 pid=$4 rc=0 line
    wait "$pid" || rc=$?
    log "the $lane lane's log:"
    sed 's/^/    /' "$dir/$lane.log" >&2
    [[ $rc -eq 0 ]] || die "the $lane lane failed (exit code $rc); its log is above"
    while IFS= read -r line; do lane_summary+=("$line"); done <"$dir/$lane.out"
    log "the $lane lane ended"
}

# Ends the lanes still running (their whole process groups).
stop_lanes() { # PID...
    local pid
    for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}

cmd_test() {
    local t0=$SECONDS summary=() line differential godot=() render=() version arm64=() nat
    local lanes lane_a lane_b
    # Every system package and Rust target of the whole run is installed here, before the lanes
    # start: apt and rustup would otherwise be run by two lanes at once.
    ensure_packages "the tests (C ENet is the interop tests' reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}" \
        "${PKGS_OPENSSL_SRC[@]}" "${PKGS_WINDOWS[@]}" "${PKGS_ARM64[@]}" "${PKGS_DEBIAN_TREES[@]}"
    [[ $(id -u) != 0 ]] || ensure_packages "the NAT lab (network namespaces with nftables NAT)" "${PKGS_NAT_LAB[@]}"
    ensure_rust
    ensure_rust_component rustfmt
    ensure_rust_component clippy
    # shellcheck disable=SC2046 # the triples are words
    ensure_rust_targets $(printf '%s ' "${PLATFORM_TRIPLES[@]}") "$RENDEZVOUS_TRIPLE"
    # Godot first: if it cannot be found or provisioned, fail now rather than after the build.
    find_godot godot render version
    summary+=("cargo tests: $(cargo_checks --workspace)")

    build_host_library
    summary+=("$(library_check_line linux-x86_64)")

    lanes=$(mktemp -d)
    start_lane lane_a "$lanes" lane_windows_macos
    start_lane lane_b "$lanes" lane_arm64_fuzz_windows
    # shellcheck disable=SC2064 # the pids are known now
    trap "stop_lanes $lane_a $lane_b" EXIT

    line=$(run_godot_suites godot "$@")
    # The differential suites again with RustENetPeer's service thread off (the setting's
    # default is on), so the observable behaviour is shown to be the same both ways.
    mapfile -t differential < <(differential_suites)
    summary+=("godot suites: $line; thread off, differential suites: $(run_godot_suites godot --service-thread=off "${differential[@]}")")
    nat=$(test_nat_lab godot)
    while IFS= read -r line; do summary+=("$line"); done <<<"$nat"
    summary+=("overlay render check: $(run_render_check render)")
    summary+=("class reference: $(check_class_docs godot "$version")")
    summary+=("first headless import of a fresh project: $(check_fresh_import godot)")
    summary+=("$(check_old_linux_load)")

    finish_lane summary "$lanes" lane_windows_macos "$lane_a"
    finish_lane summary "$lanes" lane_arm64_fuzz_windows "$lane_b"
    trap - EXIT
    rm -rf "$lanes"
    find_arm64_godot arm64
    summary+=("linux-arm64 Godot $(godot4_version "${arm64[@]}") (qemu-aarch64), test_addon_loads: $(run_godot_suites arm64 test_addon_loads)")

    log "summary:"
    printf '%s\n' "${summary[@]}"
    printf 'build.sh test: OK in %d s\n' $((SECONDS - t0))
}

cmd_build() {
    local platforms platform
    parse_platforms platforms linux-x86_64 "$@"
    for platform in "${platforms[@]}"; do build_library "$platform"; done
    sync_project_addon
    log "done: addons/rust_enet is ready to copy into a Godot project (${platforms[*]})"
}

cmd_cross_test() {
    local t0=$SECONDS platform summary=()
    (($# > 0)) || set -- windows-x86_64 linux-arm64
    for platform in "$@"; do
        known_platform "$platform"
        [[ $platform == windows-x86_64 || $platform == linux-arm64 ]] || die "$platform has no tests that run here"
    done
    for platform in "$@"; do
        summary+=("$(test_platform "$platform")")
        build_library "$platform"
        summary+=("$(library_check_line "$platform")")
    done
    log "summary:"
    printf '%s\n' "${summary[@]}"
    printf 'build.sh cross-test: OK in %d s\n' $((SECONDS - t0))
}

# Writes rust_enet-VERSION.zip in Godot's AssetLib layout: addons/rust_enet/ (the addon with the
# libraries of every platform in bin/, and LICENSE), plus LICENSE and README.md at the top.
cmd_package() {
    local platforms platform version zip
    parse_platforms platforms "${PLATFORMS[*]}" "$@"
    for platform in "${platforms[@]}"; do build_library "$platform"; done
    version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml")
    [[ -n $version ]] || die "no version in Cargo.toml's [workspace.package]"
    zip=$REPO/rust_enet-$version.zip
    write_package "$zip"
}

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

cmd_suites() {
    local godot=() render=() version
    find_godot godot render version
    build_host_library
    run_godot_suites godot "$@"
}

cmd_docs() {
    local godot=() render=() version
    python3 "$REPO/tests/sync_docs.py" --check ||
        die "doc comments differ from rust/enet-godot/doc_classes; run tests/sync_docs.py"
    find_godot godot render version
    build_host_library
    log "class reference: $(check_class_docs godot "$version")"
}

cmd_render() {
    local godot=() render=() version
    find_godot godot render version
    build_host_library
    log "overlay render check: $(run_render_check render)"
}

cmd_godot() {
    local godot=() render=() version
    find_godot godot render version
    "${godot[@]}" --path "$PROJECT_DIR" "$@"
}

cmd_demo() {
    local peer=rust godot=() render=() version
    case ${1:-} in
        "" | --rust) ;;
        --builtin) peer=builtin ;;
        --nat)
            NAT_LAB_CASES=cone,symmetric cmd_nat_lab "${RUST_ENET_NAT_RUNS:-3}"
            return
            ;;
        *) die "usage: ./build.sh demo [--builtin | --nat]  (--builtin runs the demo with Godot's ENetMultiplayerPeer; --nat the NAT lab's direct and relayed joins)" ;;
    esac
    find_godot godot render version
    build_host_library
    log "running the demo: a headless server and two clients ($peer peer)"
    "$PROJECT_DIR/demo/run_demo.sh" "$peer" "$PROJECT_DIR" "${godot[@]}"
}

# Benchmark scenario 6 (godot-project/bench: RustENetPeer vs ENetMultiplayerPeer, headless
# Godot), then rust/enet-bench/run.sh (scenarios 1-5 vs C ENet) with its own target directory
# ($CARGO_TARGET_DIR-bench), which prints one table with the Godot rows added. ARGS go to
# rust-enet-bench (--quick and --rounds N also shorten the Godot runs). Results are written to
# $RUST_ENET_CACHE/bench/{godot-rpc.jsonl,bench.json}. Nothing is asserted on time.
cmd_bench() {
    local rounds=3 seconds=5 warmup=1 i godot=() render=() version
    local args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
            --quick) rounds=1 seconds=2 warmup=0.5 ;;
            --rounds) rounds=${args[i + 1]:-$rounds} ;;
        esac
    done
    ensure_packages "the benchmarks (C ENet is their reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}"
    find_godot godot render version
    build_host_library
    # The no-network ceiling's library (RustENetMemoryPeer, godot-project/bench/README.md): the
    # bench's own build, never copied into addons/.
    log "building the ceiling peer's library (cargo feature bench-ceiling) into $CARGO_TARGET_DIR-bench"
    (cd "$REPO" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR-bench cargo build --release "${CARGO_LOCKED[@]}" \
        -p rust_enet --features bench-ceiling) || die "the bench-ceiling build of rust_enet failed"
    local out=$RUST_ENET_CACHE/bench
    mkdir -p "$out"
    local godot_json=$out/godot-rpc.jsonl
    : >"$godot_json"
    log "scenario 6: bench_rpc.tscn, $rounds round(s) of ${seconds} s per peer, alternating"
    CEILING_LIBRARY=$CARGO_TARGET_DIR-bench/release/librust_enet.so \
        "$PROJECT_DIR/bench/run_bench.sh" "$godot_json" "$rounds" "$PROJECT_DIR" "${godot[@]}" \
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
    local godot=() render=() version
    ensure_packages "the flood run (C ENet is a reference)" "${PKGS_BUILD[@]}" "${PKGS_C_ENET[@]}"
    find_godot godot render version
    build_host_library
    # run.sh builds the benchmarks and lifts the open-file limit (two source processes hold
    # 10,000 sockets each), as for ./build.sh bench.
    CARGO_TARGET_DIR=$CARGO_TARGET_DIR-bench "$REPO/rust/enet-bench/run.sh" flood-bench "$@" \
        --godot "$PROJECT_DIR" "${godot[@]}"
}

cmd_rendezvous() {
    local server
    ensure_rust
    server=$(build_rendezvous)
    exec "$server" "$@"
}

# The NAT lab with RUNS joins per case (NAT_LAB_CASES picks cases); prints the table.
cmd_nat_lab() { # RUNS
    local godot=() render=() version server reason
    ensure_packages "the NAT lab (network namespaces with nftables NAT)" "${PKGS_NAT_LAB[@]}"
    if ! reason=$(nat_lab_possible); then
        die "the NAT lab cannot run here: $reason"
    fi
    find_godot godot render version
    build_host_library
    server=$(build_rendezvous)
    run_nat_lab godot "$server" "$1"
}

cmd_nat() {
    [[ -z ${1:-} ]] || export NAT_LAB_CASES=$1
    cmd_nat_lab "${RUST_ENET_NAT_RUNS:-20}"
}

cmd_fuzz() {
    ensure_packages "fuzzing" "${PKGS_BUILD[@]}"
    ensure_rust
    log "fuzzing: $(run_fuzz_smoke "$FUZZ_SECONDS")"
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        check) cmd_check "$@" ;;
        test) cmd_test "$@" ;;
        build) cmd_build "$@" ;;
        cross-test) cmd_cross_test "$@" ;;
        package) cmd_package "$@" ;;
        demo) cmd_demo "$@" ;;
        suites) cmd_suites "$@" ;;
        docs) cmd_docs ;;
        render) cmd_render ;;
        godot) cmd_godot "$@" ;;
        bench) cmd_bench "$@" ;;
        flood) cmd_flood "$@" ;;
        fuzz) cmd_fuzz ;;
        rendezvous) cmd_rendezvous "$@" ;;
        nat) cmd_nat "$@" ;;
        -h | --help | help) usage 0 ;;
        *) usage 1 ;;
    esac
}

main "$@"
