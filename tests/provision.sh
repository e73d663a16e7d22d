#!/usr/bin/env bash
# Provisioning for build.sh (which sources this file): the Debian packages each command needs,
# the Rust toolchain, and Godot 4 (from $GODOT, from PATH, or Debian's package in a Debian sid
# root run with chroot). Expects from the caller: REPO, RUST_ENET_CACHE, GODOT_ROOT,
# PROJECT_DIR, MIN_RUST and the log/die helpers.
#
# Run directly, `tests/provision.sh godot` provisions the Godot root (if needed) and prints the
# Godot version it found.

# --- System packages ---------------------------------------------------------------------------

# What each command needs from the system, as Debian package names. The probe after the colon is
# used where dpkg-query is not there (another distribution): a command that succeeds when the
# package's part that we use is present.
PKGS_BUILD=(gcc:'command -v cc' pkg-config:'command -v pkg-config' libssl-dev:'pkg-config --exists openssl'
    zlib1g-dev:'pkg-config --exists zlib')
PKGS_C_ENET=(libenet-dev:'pkg-config --exists libenet || test -f /usr/include/enet/enet.h')
PKGS_GODOT_ROOT=(mmdebstrap:'command -v mmdebstrap')
APT_UPDATED=""

package_present() { # NAME:PROBE
    local name=${1%%:*} probe=${1#*:}
    if command -v dpkg-query >/dev/null 2>&1; then
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) == installed ]]
    else
        bash -c "$probe" >/dev/null 2>&1
    fi
}

# Installs the packages of $2... (NAME:PROBE) that are missing, with apt-get, running
# `apt-get update` at most once per run; without apt-get or root, fails at once naming them.
ensure_packages() { # WHAT NAME:PROBE...
    local what=$1 entry missing=()
    shift
    for entry in "$@"; do
        package_present "$entry" || missing+=("${entry%%:*}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        die "$what needs these Debian packages (or your distribution's equivalents), which are missing: ${missing[*]}"
    fi
    [[ $(id -u) == 0 ]] ||
        die "$what needs these packages, which are missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root"
    if [[ -z $APT_UPDATED ]]; then
        log "apt-get update (once for this run)"
        DEBIAN_FRONTEND=noninteractive apt-get update >&2 || die "apt-get update failed; install ${missing[*]} by hand"
        APT_UPDATED=1
    fi
    log "installing for $what: ${missing[*]} (apt-get install)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

# --- Rust toolchain ----------------------------------------------------------------------------

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
        if command -v rustup >/dev/null 2>&1; then
            log "rustc $version is older than $MIN_RUST; updating the stable toolchain with rustup"
            rustup update stable || die "rustup update failed"
        else
            die "rustc $version is older than $MIN_RUST (needed by gdext 0.5); please upgrade"
        fi
    fi
}

ensure_rust_component() { # $1 = rustfmt | clippy
    local tool=$1 probe=$1
    [[ $tool == clippy ]] && probe=cargo-clippy
    if ! command -v "$probe" >/dev/null 2>&1 || ! "$probe" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "$tool is missing and rustup is not available to install it"
        log "installing rustup component $tool"
        rustup component add "$tool" || die "could not install $tool"
    fi
}

# --- Godot 4 ----------------------------------------------------------------------------------

GODOT_CMD=()         # command that runs Godot
GODOT_RENDER_CMD=()  # the same on a virtual display (Xvfb); empty when there is none
GODOT_PROJECT=""     # the test project's path as that Godot sees it
GODOT_VERSION=""     # what `godot --version` printed, e.g. 4.6.3.stable.debian...

host_render_cmd() { # GODOT: a Godot of the host renders through the host's xvfb-run, if any
    GODOT_RENDER_CMD=()
    if command -v xvfb-run >/dev/null 2>&1; then
        GODOT_RENDER_CMD=(xvfb-run -a -s "-screen 0 1280x720x24" "$1")
    fi
}

is_godot4() { # $@ = command; prints the version when it is Godot 4.x
    local version
    version=$("$@" --version 2>/dev/null | tail -n 1) || return 1
    [[ $version == 4.* ]] || return 1
    printf '%s\n' "$version"
}

find_godot() {
    local version
    if [[ -n ${GODOT:-} ]]; then
        version=$(is_godot4 "$GODOT") || die "GODOT=$GODOT is not a working Godot 4.x binary"
        log "using Godot $version from \$GODOT ($GODOT)"
        GODOT_VERSION=$version
        GODOT_CMD=("$GODOT")
        host_render_cmd "$GODOT"
        GODOT_PROJECT=$PROJECT_DIR
        return
    fi
    if command -v godot >/dev/null 2>&1 && version=$(is_godot4 godot); then
        log "using Godot $version from PATH ($(command -v godot))"
        GODOT_VERSION=$version
        GODOT_CMD=(godot)
        host_render_cmd godot
        GODOT_PROJECT=$PROJECT_DIR
        return
    fi
    log "no Godot 4 in \$GODOT or on PATH; using the Debian sid root at $GODOT_ROOT"
    provision_godot_root
    ensure_render_packages
    enter_godot_root
    version=$(is_godot4 "${GODOT_CMD[@]}") || die "the Godot in $GODOT_ROOT does not run; delete that directory to provision it again"
    log "using Godot $version (chroot $GODOT_ROOT)"
    GODOT_VERSION=$version
}

provision_godot_root() {
    if [[ -x $GODOT_ROOT/usr/bin/godot ]]; then
        log "reusing the provisioned Godot root"
        return
    fi
    [[ $(id -u) == 0 ]] ||
        die "provisioning Godot needs root (mmdebstrap and chroot); run as root, put Godot 4 on PATH, or set GODOT=/path/to/godot4"
    ensure_packages "provisioning Godot (or set GODOT=/path/to/godot4)" "${PKGS_GODOT_ROOT[@]}"
    mkdir -p "$RUST_ENET_CACHE"
    local tmp
    tmp=$(mktemp -d "$RUST_ENET_CACHE/godot-root.tmp.XXXXXX")
    log "provisioning Debian sid with the godot package into $tmp (mmdebstrap, 1-2 minutes)"
    if ! mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="godot,ca-certificates,$GODOT_RENDER_PACKAGES" sid "$tmp" >&2; then
        remove_tree_safely "$tmp"
        die "mmdebstrap failed (network or Debian mirror problem?); install Godot 4 and set GODOT instead"
    fi
    [[ -x $tmp/usr/bin/godot ]] || {
        remove_tree_safely "$tmp"
        die "the provisioned root has no /usr/bin/godot"
    }
    if ! mv -T "$tmp" "$GODOT_ROOT" 2>/dev/null; then
        # Another run finished provisioning first; keep its root.
        [[ -x $GODOT_ROOT/usr/bin/godot ]] || die "could not move the new root to $GODOT_ROOT"
        log "another run provisioned $GODOT_ROOT meanwhile; using that one"
        remove_tree_safely "$tmp"
        return
    fi
    log "Godot root ready at $GODOT_ROOT"
}

# Xvfb and Mesa's software OpenGL, for the one check that renders for real (the network
# overlay's screenshot); a root provisioned before they were needed gets them added once.
GODOT_RENDER_PACKAGES=xvfb,xauth,libgl1-mesa-dri,libgl1,libegl1

ensure_render_packages() {
    [[ -x $GODOT_ROOT/usr/bin/xvfb-run ]] && return
    log "adding Xvfb and Mesa to the Godot root (for the overlay's render check)"
    unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && exec chroot "$0" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
         DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq $1"' \
        "$GODOT_ROOT" "${GODOT_RENDER_PACKAGES//,/ }" >&2 ||
        die "could not install ${GODOT_RENDER_PACKAGES//,/ } in $GODOT_ROOT (network?)"
}

remove_tree_safely() { # never follow a mount out of the tree being deleted
    local dir=$1 m
    for m in $(findmnt -rn -o TARGET | grep -F "$dir/" | sort -r); do umount "$m" || true; done
    rm -rf --one-file-system "$dir"
}

# Godot runs chrooted in the root, inside a private mount namespace of its own (unshare): /proc
# and the repository (at /mnt/rust_enet) are mounted there only, so they vanish with the process
# however it ends, nothing is ever left mounted inside $GODOT_ROOT, and concurrent runs cannot
# see each other's mounts.
enter_godot_root() {
    [[ $(id -u) == 0 ]] || die "running Godot in $GODOT_ROOT needs root (chroot); set GODOT=/path/to/godot4 instead"
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed to run Godot in $GODOT_ROOT"
    mkdir -p "$GODOT_ROOT/mnt/rust_enet"
    # mmdebstrap writes no hosts file; give the root Debian's default one, where `localhost` is
    # both ::1 and 127.0.0.1 (so it resolves to ::1 first), as on most Linux machines:
    # godot-project/tests/test_host_names.gd connects through it.
    if ! grep -qs '^::1[[:space:]].*localhost' "$GODOT_ROOT/etc/hosts"; then
        printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' \
            >"$GODOT_ROOT/etc/hosts"
    fi
    # shellcheck disable=SC2016 # expanded by the inner shell
    # No `--` in the command: scripts that get it as words (bench/run_bench.sh) split at `--`.
    GODOT_CMD=(unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && mount --bind "$1" "$0/mnt/rust_enet" && shift &&
         exec chroot "$0" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 godot "$@"' \
        "$GODOT_ROOT" "$REPO")
    # The same, on a virtual X display (Xvfb), for rendering with OpenGL on Mesa.
    # shellcheck disable=SC2016 # expanded by the inner shell
    GODOT_RENDER_CMD=(unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && mount --bind "$1" "$0/mnt/rust_enet" && shift &&
         exec chroot "$0" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
         xvfb-run -a -s "-screen 0 1280x720x24" godot "$@"' \
        "$GODOT_ROOT" "$REPO")
    GODOT_PROJECT=/mnt/rust_enet/godot-project
}


if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    RUST_ENET_CACHE=${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}
    GODOT_ROOT=$RUST_ENET_CACHE/godot-root
    PROJECT_DIR=$REPO/godot-project
    log() { printf '==> %s\n' "$*" >&2; }
    die() {
        printf 'provision.sh: error: %s\n' "$*" >&2
        exit 1
    }
    case ${1:-} in
        godot)
            find_godot
            printf '%s\n' "$GODOT_VERSION"
            ;;
        *)
            echo "usage: tests/provision.sh godot" >&2
            exit 2
            ;;
    esac
fi
