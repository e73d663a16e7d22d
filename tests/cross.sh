#!/usr/bin/env bash
# Cross builds for build.sh (which sources this file): the addon for Windows x86_64 and Linux
# arm64, and the core and driver test suites of those targets run under wine and qemu-user.
# Expects from the caller: REPO, RUST_ENET_CACHE, ADDON_DIR, CARGO_LOCKED, the log/die helpers
# and ensure_packages (tests/provision.sh).
#
# Two routes to a cross toolchain, tried in this order (RUST_ENET_CROSS_ROUTE=rustup|sid forces
# one):
#   rustup  `rustup target add TRIPLE` (the target's prebuilt standard library) on the host, with
#           Debian's cross gcc as linker and C compiler, and the host's wine / qemu-user.
#   sid     a Debian sid root ($RUST_ENET_CACHE/cross-root, mmdebstrap, needs root) with sid's
#           rustc, cargo and rust-src, the cross gcc, wine and qemu-user; cargo there builds the
#           standard library itself (RUSTC_BOOTSTRAP=1, -Zbuild-std) and reaches crates.io with
#           the host's CA file. Every cross command runs chrooted in it.
# Target directories are $RUST_ENET_CACHE/target-windows and target-arm64 (rustup route) or
# $RUST_ENET_CACHE/cross-sid/target-* (sid route), outside the clone, so warm runs are quick.

CROSS_PLATFORMS=(windows-x86_64 linux-arm64)
CROSS_ROOT=$RUST_ENET_CACHE/cross-root
# What the sid root holds: compilers for both targets, what openssl-src needs, the runners.
CROSS_ROOT_PACKAGES=rustc,cargo,rust-src,gcc,libc6-dev,gcc-mingw-w64-x86-64,binutils-mingw-w64-x86-64
CROSS_ROOT_PACKAGES+=,gcc-aarch64-linux-gnu,libc6-dev-arm64-cross,make,perl,wine,wine64,qemu-user
CROSS_ROOT_PACKAGES+=,ca-certificates,pkg-config
# Windows DLLs the addon may import: parts of Windows itself, never a MinGW or OpenSSL runtime.
CROSS_WINDOWS_SYSTEM_DLLS='^(kernel32|ntdll|ws2_32|userenv|advapi32|bcrypt|bcryptprimitives|crypt32|user32|msvcrt|shell32|ole32|oleaut32|secur32|iphlpapi|api-ms-win-[a-z0-9-]+)\.dll$'
# Linux arm64 libraries the addon may need: glibc and libgcc, on every arm64 distribution.
CROSS_LINUX_SYSTEM_LIBS='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux-aarch64\.so\.1)$'

CROSS_ROUTE=""   # rustup | sid, once chosen
CROSS_SUMMARY=() # one line per platform tested

# Sets the CROSS_* description of PLATFORM.
cross_platform() { # PLATFORM
    case $1 in
        windows-x86_64)
            CROSS_TRIPLE=x86_64-pc-windows-gnu
            CROSS_TOOL_PREFIX=x86_64-w64-mingw32-
            CROSS_BUILT=rust_enet.dll
            CROSS_ADDON_LIB=rust_enet.windows.x86_64.dll
            CROSS_RUNNER=wine
            CROSS_TARGET_NAME=target-windows
            # gcc-mingw-w64-x86-64 is the linker and C compiler (zlib, zstd, OpenSSL); binutils
            # for strip and objdump; make and perl build the vendored OpenSSL.
            CROSS_HOST_PACKAGES=(gcc-mingw-w64-x86-64:'command -v x86_64-w64-mingw32-gcc'
                binutils-mingw-w64-x86-64:'command -v x86_64-w64-mingw32-objdump'
                make:'command -v make' perl:'command -v perl'
                wine:'command -v wine' wine64:'test -x /usr/lib/wine/wine64 || command -v wine64')
            ;;
        linux-arm64)
            CROSS_TRIPLE=aarch64-unknown-linux-gnu
            CROSS_TOOL_PREFIX=aarch64-linux-gnu-
            CROSS_BUILT=librust_enet.so
            CROSS_ADDON_LIB=librust_enet.linux.arm64.so
            # -L: where qemu finds the arm64 dynamic loader and glibc (libc6-dev-arm64-cross).
            CROSS_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
            CROSS_TARGET_NAME=target-arm64
            CROSS_HOST_PACKAGES=(gcc-aarch64-linux-gnu:'command -v aarch64-linux-gnu-gcc'
                libc6-dev-arm64-cross:'test -f /usr/aarch64-linux-gnu/lib/libc.so.6'
                binutils-aarch64-linux-gnu:'command -v aarch64-linux-gnu-readelf'
                make:'command -v make' perl:'command -v perl'
                qemu-user:'command -v qemu-aarch64')
            ;;
        *) die "unknown platform '$1' (linux-x86_64, ${CROSS_PLATFORMS[*]})" ;;
    esac
}

# --- Choosing and provisioning the route ------------------------------------------------------

# Picks the route for every cross platform (once per run) and provisions it.
ensure_cross_toolchain() {
    [[ -n $CROSS_ROUTE ]] && return 0
    local forced=${RUST_ENET_CROSS_ROUTE:-} platform triples=()
    case $forced in "" | rustup | sid) ;; *) die "RUST_ENET_CROSS_ROUTE must be rustup or sid, not '$forced'" ;; esac
    for platform in "${CROSS_PLATFORMS[@]}"; do
        cross_platform "$platform"
        triples+=("$CROSS_TRIPLE")
    done
    if [[ $forced != sid ]] && cross_rustup_targets "${triples[@]}"; then
        CROSS_ROUTE=rustup
        local packages=()
        for platform in "${CROSS_PLATFORMS[@]}"; do
            cross_platform "$platform"
            packages+=("${CROSS_HOST_PACKAGES[@]}")
        done
        ensure_packages "the Windows and Linux arm64 builds" "${packages[@]}"
        log "cross builds: rustup route (rustup's standard libraries for ${triples[*]}, Debian's cross gcc)"
        return 0
    fi
    [[ $forced != rustup ]] || die "RUST_ENET_CROSS_ROUTE=rustup, but rustup could not add ${triples[*]}"
    CROSS_ROUTE=sid
    log "cross builds: Debian sid route (sid's rustc and rust-src with -Zbuild-std, in $CROSS_ROOT)"
    provision_cross_root
}

cross_rustup_targets() { # TRIPLE...
    command -v rustup >/dev/null 2>&1 || {
        log "no rustup: cannot add the cross targets' standard libraries"
        return 1
    }
    local installed missing=() triple
    installed=$(rustup target list --installed 2>/dev/null) || return 1
    for triple in "$@"; do
        grep -qx "$triple" <<<"$installed" || missing+=("$triple")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}" >&2 || {
        log "rustup could not add ${missing[*]} (no toolchain downloads here?)"
        return 1
    }
}

provision_cross_root() {
    if sid_tree_ready "$CROSS_ROOT" cross_root_usable; then
        log "reusing the cross root $CROSS_ROOT (rustc $(cross_root_rustc))"
        return
    fi
    [[ $(id -u) == 0 ]] ||
        die "the sid cross route needs root (mmdebstrap and chroot); or make \`rustup target add\` work"
    ensure_packages "provisioning the cross root" "${PKGS_GODOT_ROOT[@]}"
    unpack_sid_tree "$CROSS_ROOT" "rustc, cargo, rust-src, cross gcc, wine and qemu-user" "" \
        cross_root_usable --variant=apt --include="$CROSS_ROOT_PACKAGES"
    log "cross root ready: rustc $(cross_root_rustc)"
}

cross_root_usable() { [[ -x $1/usr/bin/cargo && -d $1/usr/lib/rustlib/src ]]; }

# Whether DEST was unpacked to the end (unpack_sid_tree) and CHECK finds it usable.
sid_tree_ready() { # DEST CHECK
    [[ -f $1/.rust_enet-complete ]] && "$2" "$1"
}

# Debian sid unpacked by mmdebstrap (ARGS: its options) into DEST, all or nothing: into a
# temporary directory beside DEST, then FIX (a function run on that tree, or ""), then CHECK (a
# function that succeeds on a usable tree); marked complete, then moved into place.
unpack_sid_tree() { # DEST WHAT FIX CHECK ARGS...
    local dest=$1 what=$2 fix=$3 check=$4 tmp
    shift 4
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp -d "$dest.tmp.XXXXXX")
    log "unpacking Debian sid with $what into $tmp (mmdebstrap)"
    if ! mmdebstrap --aptopt='Acquire::Check-Valid-Until "false"' "$@" sid "$tmp" >&2; then
        remove_tree_safely "$tmp"
        die "mmdebstrap failed for $what (network or Debian mirror problem?)"
    fi
    [[ -z $fix ]] || "$fix" "$tmp"
    "$check" "$tmp" || {
        remove_tree_safely "$tmp"
        die "the tree unpacked into $tmp lacks $what"
    }
    touch "$tmp/.rust_enet-complete"
    [[ ! -e $dest ]] || remove_tree_safely "$dest" # an unfinished earlier attempt
    mv -T "$tmp" "$dest" || die "could not move $tmp to $dest"
}

# The version of the root's rustc package (rustc itself cannot run outside cross_run: no /proc).
cross_root_rustc() {
    dpkg-query --admindir="$CROSS_ROOT/var/lib/dpkg" -W -f='${Version}' rustc 2>/dev/null || echo '(unknown)'
}

# --- Running commands for a platform ----------------------------------------------------------

# Where things are as the cross commands see them: the repository, and the directory holding
# target dirs, cargo's home (sid route) and the wine prefix.
cross_paths() {
    if [[ $CROSS_ROUTE == sid ]]; then
        CROSS_SEEN_REPO=/mnt/rust_enet
        CROSS_SEEN_CACHE=/mnt/cache
        CROSS_HOST_CACHE=$RUST_ENET_CACHE/cross-sid
    else
        CROSS_SEEN_REPO=$REPO
        CROSS_SEEN_CACHE=$RUST_ENET_CACHE
        CROSS_HOST_CACHE=$RUST_ENET_CACHE
    fi
}

# Runs CMD for the current platform (cross_platform) with the cross environment: on the host
# (rustup route) or chrooted in the sid root, in a private mount namespace that holds /proc,
# the repository and the cache only for that process (nothing stays mounted inside the root).
cross_run() { # CMD...
    cross_paths
    local triple_env=${CROSS_TRIPLE//-/_}
    local upper=${triple_env^^}
    local gcc=${CROSS_TOOL_PREFIX}gcc
    local env=(
        "CARGO_TARGET_DIR=$CROSS_SEEN_CACHE/$CROSS_TARGET_NAME"
        "CARGO_TARGET_${upper}_LINKER=$gcc"
        "CARGO_TARGET_${upper}_RUNNER=$CROSS_RUNNER"
        "CC_${triple_env}=$gcc"
        "AR_${triple_env}=${CROSS_TOOL_PREFIX}ar"
        "WINEPREFIX=$CROSS_SEEN_CACHE/wine"
        "WINEDEBUG=-all"
    )
    mkdir -p "$CROSS_HOST_CACHE"
    if [[ $CROSS_ROUTE != sid ]]; then
        env "${env[@]}" "$@"
        return
    fi
    local ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
    [[ -f $ca ]] || ca=""
    # sid's wine keeps wineserver in /usr/lib/x86_64-linux-gnu/wine. cargo's libcurl reads its
    # CA file from CARGO_HTTP_CAINFO, not SSL_CERT_FILE: both name the host's, which trusts what
    # the host's cargo trusts (a proxy's CA, say); the root's own CA file would not.
    env+=(HOME=/root PATH=/usr/bin:/bin:/usr/lib/x86_64-linux-gnu/wine LANG=C.UTF-8
        CARGO_HOME=/mnt/cache/cargo-home RUSTC_BOOTSTRAP=1 ${ca:+SSL_CERT_FILE=/mnt/host-ca.crt CARGO_HTTP_CAINFO=/mnt/host-ca.crt})
    # Proxy settings, if the host uses any, so that cargo reaches crates.io the same way.
    local name
    for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n ${!name:-} ]] && env+=("$name=${!name}")
    done
    mkdir -p "$CROSS_ROOT/mnt/rust_enet" "$CROSS_ROOT/mnt/cache"
    [[ -z $ca ]] || touch "$CROSS_ROOT/mnt/host-ca.crt"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount --propagation private sh -c \
        'root=$0 repo=$1 cache=$2 ca=$3; shift 3
         mount -t proc proc "$root/proc" &&
         mount --bind "$repo" "$root/mnt/rust_enet" &&
         mount --bind "$cache" "$root/mnt/cache" &&
         { [ -z "$ca" ] || mount --bind "$ca" "$root/mnt/host-ca.crt"; } &&
         { [ ! -d "$root/dev/shm" ] || mount -t tmpfs tmpfs "$root/dev/shm"; } &&
         exec chroot "$root" "$@"' \
        "$CROSS_ROOT" "$REPO" "$CROSS_HOST_CACHE" "$ca" \
        env -i "${env[@]}" sh -c 'cd "$0" && exec "$@"' "$CROSS_SEEN_REPO" "$@"
}

# cargo for the current platform; on the sid route it also builds the standard library.
cross_cargo() { # SUBCOMMAND ARGS...
    local extra=()
    [[ $CROSS_ROUTE == sid ]] && extra=(-Zbuild-std=std,panic_abort)
    (cd "$REPO" && cross_run nice -n 10 cargo "$1" --target "$CROSS_TRIPLE" "${extra[@]}" \
        "${CARGO_LOCKED[@]}" "${@:2}")
}

# --- Building, checking and testing -----------------------------------------------------------

# Builds the release addon library for PLATFORM into addons/rust_enet/bin/ (debug info stripped,
# as for Linux x86_64) and checks what it exports and links.
build_cross_addon() { # PLATFORM
    cross_platform "$1"
    ensure_cross_toolchain
    cross_platform "$1"
    local t0=$SECONDS
    log "building the rust_enet GDExtension (release) for $1 ($CROSS_TRIPLE, $CROSS_ROUTE route)"
    cross_cargo build -p rust_enet --release || die "the $1 build failed"
    cross_paths
    local built=$CROSS_HOST_CACHE/$CROSS_TARGET_NAME/$CROSS_TRIPLE/release/$CROSS_BUILT
    [[ -f $built ]] || die "cargo did not produce $built"
    mkdir -p "$ADDON_DIR/bin"
    local seen_built=$CROSS_SEEN_CACHE/$CROSS_TARGET_NAME/$CROSS_TRIPLE/release/$CROSS_BUILT
    local seen_out=$CROSS_SEEN_REPO/addons/rust_enet/bin/$CROSS_ADDON_LIB
    cross_run "${CROSS_TOOL_PREFIX}strip" --strip-debug -o "$seen_out.tmp" "$seen_built" ||
        die "could not strip $built"
    mv -f "$ADDON_DIR/bin/$CROSS_ADDON_LIB.tmp" "$ADDON_DIR/bin/$CROSS_ADDON_LIB"
    check_cross_library "$1"
    log "addon library: addons/rust_enet/bin/$CROSS_ADDON_LIB ($(du -h "$ADDON_DIR/bin/$CROSS_ADDON_LIB" | cut -f1), $((SECONDS - t0)) s)"
}

CROSS_LINKS="" # what check_cross_library found the library to link

# The library must export Godot's entry symbol and need only what every system of the platform
# has: Windows DLLs that are part of Windows, glibc and libgcc on Linux arm64.
check_cross_library() { # PLATFORM
    cross_platform "$1"
    cross_paths
    local lib=$CROSS_SEEN_REPO/addons/rust_enet/bin/$CROSS_ADDON_LIB needed bad="" name
    case $1 in
        windows-x86_64)
            local dump
            dump=$(cross_run "${CROSS_TOOL_PREFIX}objdump" -p "$lib") || die "objdump -p $CROSS_ADDON_LIB failed"
            # The export table lists "[ordinal] name" rows after "[Ordinal/Name Pointer] Table".
            awk '/\[Ordinal\/Name Pointer\] Table/ { table = 1; next } table && NF == 0 { table = 0 }
                 table { print $NF }' <<<"$dump" | grep -qx rust_enet_init ||
                die "$CROSS_ADDON_LIB does not export rust_enet_init"
            needed=$(sed -n 's/^[[:space:]]*DLL Name: //p' <<<"$dump" | sort -fu)
            for name in $needed; do
                grep -qiE "$CROSS_WINDOWS_SYSTEM_DLLS" <<<"$name" || bad+=" $name"
            done
            ;;
        linux-arm64)
            local dynamic symbols
            dynamic=$(cross_run "${CROSS_TOOL_PREFIX}readelf" -d "$lib") || die "readelf -d $CROSS_ADDON_LIB failed"
            symbols=$(cross_run "${CROSS_TOOL_PREFIX}readelf" --dyn-syms -W "$lib") || die "readelf --dyn-syms failed"
            awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' <<<"$symbols" | grep -qx rust_enet_init ||
                die "$CROSS_ADDON_LIB does not export rust_enet_init"
            needed=$(sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p' <<<"$dynamic")
            for name in $needed; do
                grep -qE "$CROSS_LINUX_SYSTEM_LIBS" <<<"$name" || bad+=" $name"
            done
            ;;
    esac
    CROSS_LINKS=$(tr '\n' ' ' <<<"$needed")
    CROSS_LINKS=${CROSS_LINKS% }
    [[ -z $bad ]] || die "$CROSS_ADDON_LIB needs libraries a user would have to install:$bad (all it needs: $CROSS_LINKS)"
    log "$CROSS_ADDON_LIB exports rust_enet_init and needs only system libraries: $CROSS_LINKS"
}

# The wine prefix the Windows tests run in ($RUST_ENET_CACHE/wine), created on first use. Wine 8
# (Debian 12) lacks bcryptprimitives.dll, whose ProcessPrng Rust's std (1.78+) imports, so no
# Rust program starts there; tests/wine/bcryptprimitives.c stands in for it in that prefix
# only (a wine that has the DLL keeps its own: wineboot puts a placeholder in system32).
prepare_wine() {
    cross_platform windows-x86_64
    cross_paths
    local prefix=$CROSS_HOST_CACHE/wine system32=drive_c/windows/system32
    if [[ ! -f $prefix/system.reg ]]; then
        log "creating the wine prefix $prefix (wine's first start)"
        cross_run wine wineboot --init >/dev/null 2>&1 || die "wineboot --init failed"
        cross_run wineserver -w || true
    fi
    [[ -d $prefix/$system32 ]] || die "the wine prefix $prefix has no $system32"
    if [[ ! -e $prefix/$system32/bcryptprimitives.dll ]]; then
        log "$(cross_run wine --version 2>/dev/null) has no bcryptprimitives.dll: installing the stand-in from tests/wine"
        cross_run "${CROSS_TOOL_PREFIX}gcc" -shared -O2 -Wall -o "$CROSS_SEEN_CACHE/wine/$system32/bcryptprimitives.dll" \
            "$CROSS_SEEN_REPO/tests/wine/bcryptprimitives.c" -ladvapi32 || die "could not build the bcryptprimitives.dll stand-in"
    fi
}

# Runs the core and driver test suites (rust_enet_proto, rust_enet_net with DTLS) for PLATFORM
# under its runner (wine, qemu-aarch64) and adds a summary line to CROSS_SUMMARY.
run_cross_tests() { # PLATFORM
    cross_platform "$1"
    ensure_cross_toolchain
    cross_platform "$1"
    local t0=$SECONDS out rc=0
    [[ $1 == windows-x86_64 ]] && prepare_wine
    cross_platform "$1"
    log "cargo test -p rust_enet_proto -p rust_enet_net --target $CROSS_TRIPLE (runner: $CROSS_RUNNER)"
    out=$(mktemp)
    cross_cargo test -p rust_enet_proto -p rust_enet_net 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
    local counts
    counts=$(awk '/^test result:/ {
            for (i = 1; i < NF; i++) {
                if ($(i + 1) ~ /^passed/) p += $i
                if ($(i + 1) ~ /^failed/) f += $i
                if ($(i + 1) ~ /^ignored/) g += $i
            }
        } END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$out")
    rm -f "$out"
    [[ $rc -eq 0 ]] || die "the $1 tests failed under $CROSS_RUNNER ($counts)"
    CROSS_SUMMARY+=("$1 tests ($CROSS_RUNNER): $counts in $((SECONDS - t0)) s")
    log "${CROSS_SUMMARY[-1]}"
}

# Tests, builds and checks every cross platform (or the ones named).
run_cross_platforms() { # [PLATFORM...]
    local platform platforms=("$@")
    [[ ${#platforms[@]} -gt 0 ]] || platforms=("${CROSS_PLATFORMS[@]}")
    for platform in "${platforms[@]}"; do
        run_cross_tests "$platform"
        build_cross_addon "$platform"
        CROSS_SUMMARY+=("$platform addon: $CROSS_ADDON_LIB, links $CROSS_LINKS")
        [[ $platform != linux-arm64 ]] || run_arm64_godot_suite
    done
}

# --- The addon in Debian's arm64 Godot, under qemu-user ----------------------------------------

# Debian sid's arm64 `godot` package and its libraries, unpacked without running any of their
# scripts (mmdebstrap --variant=extract), so neither binfmt_misc nor a chroot is needed:
# qemu-aarch64 runs Godot with -L pointing at this tree. About 500 MB, 30 s to provision.
CROSS_GODOT_ROOT=$RUST_ENET_CACHE/godot-arm64

provision_arm64_godot() {
    sid_tree_ready "$CROSS_GODOT_ROOT" arm64_godot_usable && return
    ensure_packages "running Debian's arm64 Godot" "${PKGS_GODOT_ROOT[@]}" qemu-user:'command -v qemu-aarch64'
    unpack_sid_tree "$CROSS_GODOT_ROOT" "the arm64 godot package" merge_usr_links \
        arm64_godot_usable --variant=extract --arch=arm64 --include=godot
}

arm64_godot_usable() { [[ -x $1/usr/bin/godot ]]; }

# Merged /usr, as a real root has it (the loader is /lib/ld-linux-aarch64.so.1); the extract
# variant runs no package scripts, so nothing else makes these links.
merge_usr_links() { # TREE
    local dir
    for dir in lib bin sbin; do
        [[ -e $1/$dir ]] || ln -s "usr/$dir" "$1/$dir"
    done
}

# The addon-loads suite in arm64 Godot with the arm64 library just built: the library loads,
# registers its classes and works as a MultiplayerPeer on that platform.
run_arm64_godot_suite() {
    provision_arm64_godot
    sync_project_addon
    local saved_cmd=("${GODOT_CMD[@]}") saved_project=${GODOT_PROJECT:-}
    local saved_summary=${GODOT_SUMMARY:-} t0=$SECONDS version
    GODOT_CMD=(qemu-aarch64 -L "$CROSS_GODOT_ROOT" "$CROSS_GODOT_ROOT/usr/bin/godot")
    GODOT_PROJECT=$PROJECT_DIR
    version=$("${GODOT_CMD[@]}" --headless --version 2>/dev/null | tail -n 1) ||
        die "Debian's arm64 Godot does not start under qemu-aarch64"
    log "arm64 Godot $version under qemu-aarch64: the addon-loads suite with $CROSS_ADDON_LIB"
    run_godot_suites test_addon_loads
    CROSS_SUMMARY+=("linux-arm64 Godot $version (qemu-aarch64): $GODOT_SUMMARY, test_addon_loads, in $((SECONDS - t0)) s")
    GODOT_CMD=("${saved_cmd[@]}")
    GODOT_PROJECT=$saved_project
    GODOT_SUMMARY=$saved_summary
}
