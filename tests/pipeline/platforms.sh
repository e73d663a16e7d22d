#!/usr/bin/env bash
# The addon's libraries (sourced by build.sh): how each platform's library is built, what it may
# need from the system that loads it, and how its core and driver tests run on this machine.
#
#   platform        library in addons/rust_enet/bin       built with
#   linux-x86_64    librust_enet.linux.x86_64.so           cargo-zigbuild, glibc 2.28 symbols
#   linux-arm64     librust_enet.linux.arm64.so            cargo-zigbuild, glibc 2.28 symbols
#   windows-x86_64  rust_enet.windows.x86_64.dll           cargo, Debian's MinGW-w64 gcc
#   macos           librust_enet.macos.universal.dylib     cargo-zigbuild for x86_64 and arm64,
#                                                          signed and joined by tests/macho.py
#
# Every library is the `portable` build of rust_enet: OpenSSL, zlib and zstd compiled in. Every
# function takes the platform as its first argument; the tables below are constants.

readonly PLATFORMS=(linux-x86_64 linux-arm64 windows-x86_64 macos)

# What check_library said of each library build_library made in this shell (library_check_line).
declare -A LIBRARY_CHECKS=()

declare -rA PLATFORM_LIBRARY=(
    [linux-x86_64]=librust_enet.linux.x86_64.so
    [linux-arm64]=librust_enet.linux.arm64.so
    [windows-x86_64]=rust_enet.windows.x86_64.dll
    [macos]=librust_enet.macos.universal.dylib
)
# Rust targets; macOS has two, joined into one universal file.
declare -rA PLATFORM_TRIPLES=(
    [linux-x86_64]=x86_64-unknown-linux-gnu
    [linux-arm64]=aarch64-unknown-linux-gnu
    [windows-x86_64]=x86_64-pc-windows-gnu
    [macos]="x86_64-apple-darwin aarch64-apple-darwin"
)
# The oldest glibc whose symbol versions a Linux library may need: what Godot 4's own Linux
# builds need (their sysroot), so the addon loads wherever Godot runs.
readonly GLIBC_FLOOR=2.28
# The macOS each slice is built for: Godot 4's own minimums.
declare -rA MACOS_MINIMUM=([x86_64-apple-darwin]=10.13 [aarch64-apple-darwin]=11.0)
# Libraries the platform's library may load: glibc's own and libgcc on Linux, parts of Windows
# itself (never a MinGW or OpenSSL runtime), and on macOS libSystem and the iconv that Rust's
# standard library links (all three in every macOS's /usr/lib).
readonly LINUX_SYSTEM_LIBS='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'
readonly WINDOWS_SYSTEM_DLLS='^(kernel32|ntdll|ws2_32|userenv|advapi32|bcrypt|bcryptprimitives|crypt32|user32|msvcrt|shell32|ole32|oleaut32|secur32|iphlpapi|api-ms-win-[a-z0-9-]+)\.dll$'
readonly MACOS_SYSTEM_DYLIBS=(/usr/lib/libSystem.B.dylib /usr/lib/libiconv.2.dylib /usr/lib/libcharset.1.dylib)
readonly ENTRY_SYMBOL=rust_enet_init

# cargo's arguments for every library build and for the tests that share its artifacts: the
# release profile without debug information (nothing to strip afterwards, which would break
# the macOS signature) and the portable features (OpenSSL and zlib compiled in).
readonly LIBRARY_CARGO_ARGS=(--release --config profile.release.debug=0)
readonly LIBRARY_FEATURES=(--features portable)
readonly TEST_FEATURES=(--features rust_enet_net/vendored-openssl,rust_enet_proto/static-zlib)

# The cargo target directory of PLATFORM's builds and tests: linux-x86_64 (this machine's) in
# $CARGO_TARGET_DIR, every other platform in $CARGO_TARGET_DIR-PLATFORM. cargo locks a target
# directory for the whole of a build, so only separate directories let `test` build two platforms
# side by side.
platform_target_dir() { # PLATFORM
    if [[ $1 == linux-x86_64 ]]; then
        printf '%s\n' "$CARGO_TARGET_DIR"
    else
        printf '%s-%s\n' "$CARGO_TARGET_DIR" "$1"
    fi
}

known_platform() { # PLATFORM
    [[ -n ${PLATFORM_LIBRARY[$1]:-} ]] || die "unknown platform '$1' (${PLATFORMS[*]})"
}

# Installs what building (and testing) PLATFORM's library needs.
prepare_platform() { # PLATFORM
    known_platform "$1"
    ensure_packages "building the addon" "${PKGS_BUILD[@]}" "${PKGS_OPENSSL_SRC[@]}"
    ensure_rust
    # shellcheck disable=SC2086 # the triples are words
    ensure_rust_targets ${PLATFORM_TRIPLES[$1]}
    case $1 in
        windows-x86_64) ensure_packages "the Windows library" "${PKGS_WINDOWS[@]}" ;;
        linux-arm64) ensure_packages "the arm64 tests" "${PKGS_ARM64[@]}" ;;
    esac
}

# The environment cargo needs for a Windows build: Debian's MinGW-w64 gcc links the DLL and
# compiles the C code (zlib, zstd, OpenSSL); the tests run under wine.
windows_env() {
    printf '%s\n' CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
        CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
        "WINEPREFIX=$RUST_ENET_CACHE/wine" WINEDEBUG=-all
}

# cargo for PLATFORM's single TRIPLE: SUBCOMMAND (build, test or rustc) through cargo-zigbuild
# for Linux and macOS (Linux with glibc $GLIBC_FLOOR symbols, macOS for MACOS_MINIMUM), plain
# cargo with MinGW for Windows. ARGS follow the subcommand.
platform_cargo() { # PLATFORM TRIPLE SUBCOMMAND ARGS...
    local platform=$1 triple=$2 subcommand=$3 env=() target_dir
    shift 3
    target_dir=$(platform_target_dir "$platform")
    # cargo-zigbuild names its build `zigbuild`; its other subcommands are cargo's.
    [[ $platform != windows-x86_64 && $subcommand == build ]] && subcommand=zigbuild
    case $platform in
        windows-x86_64)
            mapfile -t env < <(windows_env)
            (cd "$REPO" && env "${env[@]}" CARGO_TARGET_DIR="$target_dir" nice -n 5 cargo "$subcommand" \
                --target "$triple" "${CARGO_LOCKED[@]}" "$@")
            ;;
        linux-*)
            local zig
            zig=$(zig_bin)
            env=(PATH="$zig:$PATH" CARGO_TARGET_DIR="$target_dir" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu")
            (cd "$REPO" && env "${env[@]}" nice -n 5 cargo-zigbuild "$subcommand" --target "$triple.$GLIBC_FLOOR" \
                "${CARGO_LOCKED[@]}" "$@")
            ;;
        macos)
            local zig
            zig=$(zig_bin)
            (cd "$REPO" && env PATH="$zig:$PATH" CARGO_TARGET_DIR="$target_dir" MACOSX_DEPLOYMENT_TARGET="${MACOS_MINIMUM[$triple]}" \
                nice -n 5 cargo-zigbuild "$subcommand" --target "$triple" "${CARGO_LOCKED[@]}" "$@")
            ;;
    esac
}

# Builds PLATFORM's library into addons/rust_enet/bin/ and checks it (check_library). The file
# is made in the target directory and renamed into place, so a Godot that has the old file
# mapped keeps a valid one, and a copy of the addon taken meanwhile (sync_project_addon, beside
# a background lane of `test`) never meets a half-written or vanishing file.
build_library() { # PLATFORM
    local platform=$1 t0=$SECONDS triple built out=$ADDON_DIR/bin/${PLATFORM_LIBRARY[$1]} slices=() target_dir
    prepare_platform "$platform"
    target_dir=$(platform_target_dir "$platform")
    local staged=$target_dir/${PLATFORM_LIBRARY[$platform]}.staged
    mkdir -p "$ADDON_DIR/bin" "$target_dir"
    for triple in ${PLATFORM_TRIPLES[$platform]}; do
        log "building the rust_enet library (release, portable) for $platform ($triple)"
        case $platform in
            macos)
                # The install name Godot loads it by, wherever the project keeps it. `rustc`
                # passes the flag to this crate's link only (the dependencies stay as built).
                platform_cargo "$platform" "$triple" rustc -p rust_enet "${LIBRARY_CARGO_ARGS[@]}" \
                    "${LIBRARY_FEATURES[@]}" -- -C "link-arg=-Wl,-install_name,@rpath/${PLATFORM_LIBRARY[$platform]}" ||
                    die "the $platform build ($triple) failed"
                built=$target_dir/$triple/release/librust_enet.dylib
                ;;
            windows-x86_64)
                platform_cargo "$platform" "$triple" build -p rust_enet "${LIBRARY_CARGO_ARGS[@]}" \
                    "${LIBRARY_FEATURES[@]}" || die "the $platform build failed"
                built=$target_dir/$triple/release/rust_enet.dll
                ;;
            *)
                platform_cargo "$platform" "$triple" build -p rust_enet "${LIBRARY_CARGO_ARGS[@]}" \
                    "${LIBRARY_FEATURES[@]}" || die "the $platform build failed"
                built=$target_dir/$triple/release/librust_enet.so
                ;;
        esac
        [[ -f $built ]] || die "cargo did not produce $built"
        slices+=("$built")
    done
    if [[ $platform == macos ]]; then
        # zig's linker signs arm64 code only: the x86_64 slice gets the same ad-hoc signature
        # here (tests/macho.py sign leaves a signed slice alone), then both become one file.
        local slice signed=()
        for slice in "${slices[@]}"; do
            cp "$slice" "$slice.signed"
            python3 "$REPO/tests/macho.py" sign "$slice.signed" librust_enet.dylib >&2 ||
                die "could not sign $slice"
            signed+=("$slice.signed")
        done
        python3 "$REPO/tests/macho.py" lipo "$staged" "${signed[@]}" || die "could not join the macOS slices"
        rm -f "${signed[@]}"
    else
        cp "${slices[0]}" "$staged"
    fi
    mv -f "$staged" "$out"
    LIBRARY_CHECKS[$platform]=$(check_library "$platform")
    printf '%s\n' "${LIBRARY_CHECKS[$platform]}" >&2
    log "addon library: addons/rust_enet/bin/${PLATFORM_LIBRARY[$platform]} ($(du -h "$out" | cut -f1), $((SECONDS - t0)) s)"
}

# check_library's line for PLATFORM's library: the one build_library recorded when it made the
# library in this shell, or a new check of the file there.
library_check_line() { # PLATFORM
    if [[ -n ${LIBRARY_CHECKS[$1]:-} ]]; then
        printf '%s\n' "${LIBRARY_CHECKS[$1]}"
    else
        check_library "$1"
    fi
}

# Checks PLATFORM's library in addons/rust_enet/bin without running it: it exports Godot's
# entry symbol and needs nothing from the system beyond what every system of the platform has;
# a Linux library needs no glibc symbol version above $GLIBC_FLOOR; the macOS library holds
# both architectures for Godot's minimum macOS, has an @rpath install name and a valid ad-hoc
# signature (tests/macho.py). Prints one line that says what was found.
check_library() { # PLATFORM
    local platform=$1 lib=$ADDON_DIR/bin/${PLATFORM_LIBRARY[$1]} needed bad="" name
    [[ -f $lib ]] || die "${PLATFORM_LIBRARY[$platform]} is not built"
    case $platform in
        linux-*)
            local dynamic symbols versions newest
            dynamic=$(readelf -d -W "$lib") || die "readelf -d ${PLATFORM_LIBRARY[$platform]} failed"
            symbols=$(readelf --dyn-syms -W "$lib") || die "readelf --dyn-syms failed"
            awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' <<<"$symbols" | grep -qx "$ENTRY_SYMBOL" ||
                die "${PLATFORM_LIBRARY[$platform]} does not export $ENTRY_SYMBOL"
            needed=$(sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p' <<<"$dynamic")
            for name in $needed; do
                grep -qE "$LINUX_SYSTEM_LIBS" <<<"$name" || bad+=" $name"
            done
            [[ -z $bad ]] || die "${PLATFORM_LIBRARY[$platform]} needs libraries a player would have to install:$bad"
            # The versions the library needs of each library (.gnu.version_r).
            versions=$(readelf -V -W "$lib" | sed -n 's/.*Name: \(GLIBC_[0-9.]*\).*/\1/p' | sort -u -V)
            newest=$(tail -n 1 <<<"$versions")
            [[ -n $newest ]] || die "${PLATFORM_LIBRARY[$platform]} has no glibc version needs (readelf -V)"
            printf '%s\n%s\n' "GLIBC_$GLIBC_FLOOR" "$newest" | sort -V -C ||
                die "${PLATFORM_LIBRARY[$platform]} needs $newest, newer than GLIBC_$GLIBC_FLOOR: $(grep -oE 'GLIBC_[0-9.]+' <<<"$versions" | tr '\n' ' ')"
            printf '%s: exports %s, needs %s, glibc symbol versions up to %s\n' "${PLATFORM_LIBRARY[$platform]}" \
                "$ENTRY_SYMBOL" "$(tr '\n' ' ' <<<"$needed" | sed 's/ $//')" "$newest"
            ;;
        windows-x86_64)
            local dump
            dump=$(x86_64-w64-mingw32-objdump -p "$lib") || die "objdump -p ${PLATFORM_LIBRARY[$platform]} failed"
            # The export table lists "[ordinal] name" rows after "[Ordinal/Name Pointer] Table".
            awk '/\[Ordinal\/Name Pointer\] Table/ { table = 1; next } table && NF == 0 { table = 0 }
                 table { print $NF }' <<<"$dump" | grep -qx "$ENTRY_SYMBOL" ||
                die "${PLATFORM_LIBRARY[$platform]} does not export $ENTRY_SYMBOL"
            needed=$(sed -n 's/^[[:space:]]*DLL Name: //p' <<<"$dump" | sort -fu)
            for name in $needed; do
                grep -qiE "$WINDOWS_SYSTEM_DLLS" <<<"$name" || bad+=" $name"
            done
            [[ -z $bad ]] || die "${PLATFORM_LIBRARY[$platform]} needs DLLs a player would have to install:$bad"
            printf '%s: exports %s, imports only Windows DLLs: %s\n' "${PLATFORM_LIBRARY[$platform]}" \
                "$ENTRY_SYMBOL" "$(tr '\n' ' ' <<<"$needed" | sed 's/ $//')"
            ;;
        macos)
            local args=() triple arch dylib
            for triple in ${PLATFORM_TRIPLES[$platform]}; do
                arch=${triple%%-*}
                [[ $arch == aarch64 ]] && arch=arm64
                args+=(--arch "$arch:${MACOS_MINIMUM[$triple]}")
            done
            for dylib in "${MACOS_SYSTEM_DYLIBS[@]}"; do args+=(--allow-dylib "$dylib"); done
            python3 "$REPO/tests/macho.py" check "$lib" --name "@rpath/${PLATFORM_LIBRARY[$platform]}" \
                --export "_$ENTRY_SYMBOL" "${args[@]}" | sed "s|^|${PLATFORM_LIBRARY[$platform]} |" ||
                die "${PLATFORM_LIBRARY[$platform]} failed its checks (tests/macho.py check)"
            ;;
    esac
}

# The wine prefix the Windows tests run in ($RUST_ENET_CACHE/wine), created on first use. Wine 8
# (Debian 12) lacks bcryptprimitives.dll, whose ProcessPrng Rust's std (1.78+) imports, so no
# Rust program starts there; tests/wine/bcryptprimitives.c stands in for it in that prefix only
# (a wine that has the DLL keeps its own: wineboot puts a placeholder in system32).
prepare_wine() {
    local prefix=$RUST_ENET_CACHE/wine system32=drive_c/windows/system32
    if [[ ! -f $prefix/system.reg ]]; then
        log "creating the wine prefix $prefix (wine's first start)"
        WINEPREFIX=$prefix WINEDEBUG=-all wine wineboot --init >/dev/null 2>&1 || die "wineboot --init failed"
        WINEPREFIX=$prefix wineserver -w || true
    fi
    [[ -d $prefix/$system32 ]] || die "the wine prefix $prefix has no $system32"
    if [[ ! -e $prefix/$system32/bcryptprimitives.dll ]]; then
        log "$(wine --version 2>/dev/null) has no bcryptprimitives.dll: installing the stand-in from tests/wine"
        x86_64-w64-mingw32-gcc -shared -O2 -Wall -o "$prefix/$system32/bcryptprimitives.dll" \
            "$REPO/tests/wine/bcryptprimitives.c" -ladvapi32 || die "could not build the bcryptprimitives.dll stand-in"
    fi
}

# Runs the core and driver test suites (rust_enet_proto, rust_enet_net with DTLS) built for
# PLATFORM under its runner: wine for Windows, qemu-aarch64 for Linux arm64. They are built in
# the release profile with the library's features, so they share the library build's compiled
# dependencies (OpenSSL among them). Prints one summary line.
test_platform() { # PLATFORM
    local platform=$1 t0=$SECONDS counts runner
    prepare_platform "$platform"
    case $platform in
        windows-x86_64) prepare_wine; runner=wine ;;
        linux-arm64) runner="qemu-aarch64" ;;
        *) die "the $platform tests do not run on this machine" ;;
    esac
    log "core and driver tests for $platform (${PLATFORM_TRIPLES[$platform]}) under $runner"
    counts=$(run_cargo_tests "the $platform tests under $runner" platform_cargo "$platform" \
        "${PLATFORM_TRIPLES[$platform]}" test -p rust_enet_proto -p rust_enet_net \
        "${LIBRARY_CARGO_ARGS[@]}" "${TEST_FEATURES[@]}")
    printf '%s tests (%s): %s in %d s\n' "$platform" "$runner" "$counts" $((SECONDS - t0))
}

# Loads the Linux x86_64 library in the oldest Debian release the mirror serves, with
# immediate binding, and resolves its entry symbol (tests/portability/load_library.c, built
# with zig against glibc $GLIBC_FLOOR). Prints what the loader said.
check_old_linux_load() {
    local lib=$ADDON_DIR/bin/${PLATFORM_LIBRARY[linux-x86_64]} work zig out
    [[ -f $lib ]] || die "${PLATFORM_LIBRARY[linux-x86_64]} is not built"
    provision_old_debian
    zig=$(zig_bin)
    work=$REPO/target-portability
    mkdir -p "$work"
    "$zig/python3" -m ziglang cc -target "x86_64-linux-gnu.$GLIBC_FLOOR" -O2 -o "$work/load_library" \
        "$REPO/tests/portability/load_library.c" -ldl || die "could not build the loader"
    cp "$lib" "$work/"
    out=$(run_in_root "$OLD_DEBIAN_ROOT" "$work/load_library" "$work/${PLATFORM_LIBRARY[linux-x86_64]}" "$ENTRY_SYMBOL" 2>&1) ||
        die "Debian $OLD_DEBIAN_SUITE cannot load ${PLATFORM_LIBRARY[linux-x86_64]}: $out"
    rm -rf "$work"
    printf 'Debian %s (%s): %s\n' "$OLD_DEBIAN_SUITE" "$(cat "$OLD_DEBIAN_ROOT/etc/debian_version")" "$out"
}
