#!/usr/bin/env bash
# Provisioning (sourced by build.sh): the Debian packages each command needs, Rust and its
# targets, zig (the linker of the Linux and macOS libraries), and the Debian trees the tests run
# in: Debian sid with Godot (x86_64, run with chroot), Debian sid's arm64 Godot (run by
# qemu-user), and the oldest Debian release the mirror serves (the portability check).
#
# Nothing here sets a global: functions that find something print it or write it into the
# variable whose name they are given.

# --- System packages ---------------------------------------------------------------------------

# What each command needs from the system, as Debian package names. The probe after the colon is
# used where dpkg-query is not there (another distribution): a command that succeeds when the
# package's part that we use is present.
readonly PKGS_BUILD=(gcc:'command -v cc' pkg-config:'command -v pkg-config'
    libssl-dev:'pkg-config --exists openssl' zlib1g-dev:'pkg-config --exists zlib')
# What the vendored OpenSSL of every addon library needs to build.
readonly PKGS_OPENSSL_SRC=(make:'command -v make' perl:'command -v perl')
readonly PKGS_C_ENET=(libenet-dev:'pkg-config --exists libenet || test -f /usr/include/enet/enet.h')
# The NAT lab: network namespaces (iproute2) and NAT (nftables).
readonly PKGS_NAT_LAB=(iproute2:'command -v ip' nftables:'command -v nft')
readonly PKGS_DEBIAN_TREES=(mmdebstrap:'command -v mmdebstrap')
readonly PKGS_WINDOWS=(gcc-mingw-w64-x86-64:'command -v x86_64-w64-mingw32-gcc'
    binutils-mingw-w64-x86-64:'command -v x86_64-w64-mingw32-objdump'
    wine:'command -v wine' wine64:'test -x /usr/lib/wine/wine64 || command -v wine64')
# qemu-user runs the arm64 tests and Godot; the arm64 C library is what qemu's -L points at.
readonly PKGS_ARM64=(qemu-user:'command -v qemu-aarch64'
    libc6-arm64-cross:'test -f /usr/aarch64-linux-gnu/lib/libc.so.6')
readonly PKGS_PACKAGE=(zip:'command -v zip')
# Debian's python3 makes venvs only with python3-venv (ensurepip).
readonly PKGS_PYTHON_VENV=(python3-venv:'python3 -c "import ensurepip"')

APT_UPDATED_MARK=/tmp/rust_enet-apt-updated.$$

package_present() { # NAME:PROBE
    local name=${1%%:*} probe=${1#*:}
    if command -v dpkg-query >/dev/null 2>&1; then
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) == installed ]]
    else
        bash -c "$probe" >/dev/null 2>&1
    fi
}

# Installs the packages of NAME:PROBE... that are missing, with apt-get, running `apt-get
# update` at most once per run; without apt-get or root, fails at once naming them.
ensure_packages() { # WHAT NAME:PROBE...
    local what=$1 entry missing=()
    shift
    for entry in "$@"; do
        package_present "$entry" || missing+=("${entry%%:*}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "$what needs these Debian packages (or your distribution's equivalents), which are missing: ${missing[*]}"
    [[ $(id -u) == 0 ]] ||
        die "$what needs these packages, which are missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root"
    if [[ ! -e $APT_UPDATED_MARK ]]; then
        log "apt-get update (once for this run)"
        DEBIAN_FRONTEND=noninteractive apt-get update >&2 || die "apt-get update failed; install ${missing[*]} by hand"
        touch "$APT_UPDATED_MARK"
        trap 'rm -f "$APT_UPDATED_MARK"' EXIT
    fi
    log "installing for $what: ${missing[*]} (apt-get install)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

# --- Rust and zig ------------------------------------------------------------------------------

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        command -v curl >/dev/null 2>&1 || die "cargo is not installed and curl is missing; install Rust >= $MIN_RUST (https://rustup.rs)"
        log "installing Rust with rustup (stable, minimal profile, rustfmt and clippy)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --component rustfmt,clippy ||
            die "rustup installation failed"
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    local version
    version=$(rustc --version | awk '{print $2}')
    if ! printf '%s\n%s\n' "$MIN_RUST" "$version" | sort -V -C; then
        command -v rustup >/dev/null 2>&1 || die "rustc $version is older than $MIN_RUST (needed by gdext 0.5); please upgrade"
        log "rustc $version is older than $MIN_RUST; updating the stable toolchain with rustup"
        rustup update stable || die "rustup update failed"
    fi
}

ensure_rust_component() { # rustfmt | clippy
    local tool=$1 probe=$1
    [[ $tool == clippy ]] && probe=cargo-clippy
    if ! command -v "$probe" >/dev/null 2>&1 || ! "$probe" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "$tool is missing and rustup is not available to install it"
        log "installing rustup component $tool"
        rustup component add "$tool" || die "could not install $tool"
    fi
}

# The standard libraries of TRIPLE... (rustup's prebuilt ones).
ensure_rust_targets() { # TRIPLE...
    local installed missing=() triple
    command -v rustup >/dev/null 2>&1 || die "cross builds need rustup (rustup target add $*)"
    installed=$(rustup target list --installed 2>/dev/null) || die "rustup target list failed"
    for triple in "$@"; do
        grep -qx "$triple" <<<"$installed" || missing+=("$triple")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}" >&2 || die "rustup target add ${missing[*]} failed"
}

# zig and cargo-zigbuild, both from PyPI, in a virtual environment of the cache. zig links the
# Linux libraries against glibc 2.28's symbols (whatever glibc this machine has) and the macOS
# library without an Apple SDK. Prints the directory to put first on PATH.
readonly ZIG_PACKAGES=(ziglang==0.17.1 cargo-zigbuild==0.24.1)
zig_bin() {
    local venv=$RUST_ENET_CACHE/tools/zig stamp
    stamp="${ZIG_PACKAGES[*]}"
    if [[ ! -x $venv/bin/cargo-zigbuild || $(cat "$venv/.packages" 2>/dev/null) != "$stamp" ]]; then
        log "installing ${ZIG_PACKAGES[*]} (PyPI) into $venv"
        rm -rf "$venv"
        ensure_packages "zig from PyPI (a Python venv)" "${PKGS_PYTHON_VENV[@]}"
        python3 -m venv "$venv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
        "$venv/bin/pip" install --quiet "${ZIG_PACKAGES[@]}" >&2 || die "pip install ${ZIG_PACKAGES[*]} failed"
        printf '%s' "$stamp" >"$venv/.packages"
    fi
    printf '%s\n' "$venv/bin"
}

# --- Debian trees ------------------------------------------------------------------------------

remove_tree_safely() { # never follow a mount out of the tree being deleted
    local dir=$1 m
    for m in $(findmnt -rn -o TARGET | grep -F "$dir/" | sort -r); do umount "$m" || true; done
    rm -rf --one-file-system "$dir"
}

# Whether DEST was unpacked to the end (unpack_debian_tree) and CHECK finds it usable.
debian_tree_ready() { # DEST CHECK
    [[ -f $1/.rust_enet-complete ]] && "$2" "$1"
}

# A Debian SUITE unpacked by mmdebstrap (ARGS: its options) into DEST, all or nothing: into a
# temporary directory beside DEST, then FIX (a function run on that tree, or ""), then CHECK (a
# function that succeeds on a usable tree); marked complete, then moved into place.
unpack_debian_tree() { # DEST SUITE WHAT FIX CHECK ARGS...
    local dest=$1 suite=$2 what=$3 fix=$4 check=$5 tmp
    shift 5
    debian_tree_ready "$dest" "$check" && return 0
    [[ $(id -u) == 0 ]] || die "unpacking $what needs root (mmdebstrap)"
    ensure_packages "unpacking Debian trees" "${PKGS_DEBIAN_TREES[@]}"
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp -d "$dest.tmp.XXXXXX")
    log "unpacking Debian $suite with $what into $tmp (mmdebstrap)"
    if ! mmdebstrap --aptopt='Acquire::Check-Valid-Until "false"' "$@" "$suite" "$tmp" >&2; then
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

# Runs CMD... chrooted in ROOT (tests/pipeline/in_root.sh, which Godot commands name too, so
# that scripts started with them can run them).
run_in_root() { # ROOT CMD...
    [[ $(id -u) == 0 ]] || die "running in $1 needs root (chroot)"
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed to run in $1"
    "$REPO/tests/pipeline/in_root.sh" "$@"
}

# The trees, each in the cache.
GODOT_ROOT=$RUST_ENET_CACHE/godot-root      # Debian sid with godot, Xvfb and Mesa (x86_64)
ARM64_GODOT_ROOT=$RUST_ENET_CACHE/godot-arm64 # Debian sid's arm64 godot, unpacked only
OLD_DEBIAN_SUITE=bullseye                    # the oldest release deb.debian.org serves
OLD_DEBIAN_ROOT=$RUST_ENET_CACHE/debian-$OLD_DEBIAN_SUITE
readonly GODOT_ROOT ARM64_GODOT_ROOT OLD_DEBIAN_SUITE OLD_DEBIAN_ROOT
# Xvfb and Mesa's software OpenGL, for the one check that renders for real (the overlay).
readonly GODOT_RENDER_PACKAGES=xvfb,xauth,libgl1-mesa-dri,libgl1,libegl1

godot_root_usable() { [[ -x $1/usr/bin/godot && -x $1/usr/bin/xvfb-run ]]; }

# mmdebstrap writes no hosts file; give the root Debian's default one, where `localhost` is both
# ::1 and 127.0.0.1 (so it resolves to ::1 first), as on most Linux machines:
# godot-project/tests/test_host_names.gd connects through it.
write_hosts_file() { # ROOT
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' \
        >"$1/etc/hosts"
}

provision_godot_root() {
    unpack_debian_tree "$GODOT_ROOT" sid "godot, Xvfb and Mesa" write_hosts_file godot_root_usable \
        --variant=apt --include="godot,ca-certificates,$GODOT_RENDER_PACKAGES"
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

# Debian sid's arm64 godot and its libraries, unpacked without running any of their scripts
# (--variant=extract), so neither binfmt_misc nor a chroot is needed: qemu-aarch64 runs Godot
# with -L pointing at this tree. About 500 MB, 30 s to provision.
provision_arm64_godot() {
    ensure_packages "running Debian's arm64 Godot" "${PKGS_ARM64[@]}"
    unpack_debian_tree "$ARM64_GODOT_ROOT" sid "the arm64 godot package" merge_usr_links \
        arm64_godot_usable --variant=extract --arch=arm64 --include=godot
}

old_debian_usable() { [[ -x $1/usr/bin/ldd && -e $1/lib/x86_64-linux-gnu/libc.so.6 ]]; }

# The oldest Debian release deb.debian.org still serves (buster is gone from it), minimal: its
# glibc is what the portability check loads the Linux x86_64 library against.
provision_old_debian() {
    unpack_debian_tree "$OLD_DEBIAN_ROOT" "$OLD_DEBIAN_SUITE" "a minimal system" "" \
        old_debian_usable --variant=minbase
}

# --- Godot -------------------------------------------------------------------------------------

# What `godot --version` prints when COMMAND... is a Godot 4.x; fails otherwise.
godot4_version() { # COMMAND...
    local version
    version=$("$@" --headless --version 2>/dev/null | tail -n 1) || return 1
    [[ $version == 4.* ]] || return 1
    printf '%s\n' "$version"
}

# Finds Godot 4 and writes its command into the array CMD_VAR, the same command on a virtual X
# display into RENDER_VAR (empty when there is none) and its version into VERSION_VAR: $GODOT,
# else a `godot` 4.x on PATH, else Debian sid's package in $GODOT_ROOT (provisioned on first
# use, run with chroot). The test project is $PROJECT_DIR for every one of them.
find_godot() { # CMD_VAR RENDER_VAR VERSION_VAR
    local -n cmd_out=$1 render_out=$2 version_out=$3
    local candidate
    for candidate in "${GODOT:-}" godot; do
        [[ -n $candidate ]] || continue
        if [[ $candidate == "${GODOT:-}" ]] && ! godot4_version "$candidate" >/dev/null; then
            die "GODOT=$candidate is not a working Godot 4.x binary"
        fi
        command -v "$candidate" >/dev/null 2>&1 || continue
        version_out=$(godot4_version "$candidate") || continue
        log "using Godot $version_out ($(command -v "$candidate"))"
        cmd_out=("$candidate")
        render_out=()
        command -v xvfb-run >/dev/null 2>&1 && render_out=(xvfb-run -a -s "-screen 0 1280x720x24" "$candidate")
        return 0
    done
    log "no Godot 4 in \$GODOT or on PATH; using Debian sid's in $GODOT_ROOT"
    provision_godot_root
    write_hosts_file "$GODOT_ROOT"
    [[ $(id -u) == 0 ]] || die "running Godot in $GODOT_ROOT needs root (chroot); set GODOT=/path/to/godot4 instead"
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed to run Godot in $GODOT_ROOT"
    cmd_out=("$REPO/tests/pipeline/in_root.sh" "$GODOT_ROOT" godot)
    render_out=("$REPO/tests/pipeline/in_root.sh" "$GODOT_ROOT" xvfb-run -a -s "-screen 0 1280x720x24" godot)
    version_out=$(godot4_version "${cmd_out[@]}") ||
        die "the Godot in $GODOT_ROOT does not run; delete that directory to provision it again"
    log "using Godot $version_out (chroot $GODOT_ROOT)"
}

# Debian's arm64 Godot under qemu-user, into the array CMD_VAR.
find_arm64_godot() { # CMD_VAR
    local -n arm64_out=$1
    provision_arm64_godot
    arm64_out=(qemu-aarch64 -L "$ARM64_GODOT_ROOT" "$ARM64_GODOT_ROOT/usr/bin/godot")
}
