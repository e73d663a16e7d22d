#!/usr/bin/env bash
# Godot's part of the pipeline (sourced by build.sh): the headless suites of godot-project, the
# class reference check and the overlay's render check. Each function takes the Godot command to
# use as the name of an array (find_godot and find_arm64_godot in provision.sh fill one), so the
# same functions run Debian's x86_64 Godot in its root and the arm64 one under qemu-user.

# godot-project/addons/rust_enet is a copy of addons/rust_enet (the addon as users get it), made
# here before every Godot run and never committed, so the addon's scripts exist once in the tree.
# The `.uid` files the Godot editor (4.4+) writes next to the copy's files are kept.
sync_project_addon() {
    # Per process: two pipelines in one checkout (a suite run beside the NAT lab) must not share it.
    local tmp=$PROJECT_DIR/addons/.rust_enet.sync.$$
    rm -rf "$tmp"
    mkdir -p "$PROJECT_DIR/addons"
    cp -a "$ADDON_DIR" "$tmp"
    if [[ -d $PROJECT_ADDON_DIR ]]; then
        (cd "$PROJECT_ADDON_DIR" && find . -name '*.uid' -exec cp --parents {} "$tmp" \;)
    fi
    rm -rf "$PROJECT_ADDON_DIR"
    mv "$tmp" "$PROJECT_ADDON_DIR"
}

# Lines in Godot's output that fail a run even when the runner itself passed.
readonly GODOT_FAILURE_PATTERNS=(
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

# The lines of Godot's output on stdin that match GODOT_FAILURE_PATTERNS or an EXTRA pattern,
# indented for a failure message; nothing when none does.
godot_failure_lines() { # [EXTRA_PATTERN...]
    local alternatives
    alternatives=$(printf '(%s)|' "${GODOT_FAILURE_PATTERNS[@]}" "$@")
    grep -E -- "${alternatives%|}" | sed 's/^/    /' || true
}

# Runner filters for the suites built on tests/lib/differential.gd (the built-in peer validates
# each scenario), one `test_x::` per suite file.
differential_suites() {
    grep -l '^extends "res://tests/lib/differential.gd"' "$PROJECT_DIR"/tests/test_*.gd |
        sed 's|.*/||; s|\.gd$|::|'
}

# Runs the headless suites with the Godot of the array GODOT_VAR; FILTERS go to the runner
# (godot-project/tests/runner.gd). Prints the runner's summary line ("N passed, M failed").
run_godot_suites() { # GODOT_VAR [FILTER...]
    local -n suite_godot=$1
    shift
    sync_project_addon
    log "running the Godot suites: godot --headless --path godot-project${*:+ -- $*}"
    local out rc=0 problems summary
    out=$(mktemp)
    timeout --kill-after=10 "${GODOT_SUITE_TIMEOUT:-900}" \
        "${suite_godot[@]}" --headless --path "$PROJECT_DIR" ${1:+--} "$@" 2>&1 | tee "$out" >&2 || rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    problems=$(godot_failure_lines <"$out")
    rm -f "$out"
    [[ -n $summary ]] || die "the Godot runner printed no summary line (exit code $rc): the test project did not run to the end"
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then die "Godot suites timed out"; fi
    [[ -z $problems ]] || die "Godot suites failed ($summary, exit code $rc); errors in Godot's output:
$problems"
    [[ $rc -eq 0 ]] || die "Godot suites failed ($summary, exit code $rc)"
    printf '%s\n' "$summary"
}

# Renders the network overlay (addons/rust_enet/debug/) for real with the Godot of the array
# RENDER_VAR (on a virtual X display): Godot's OpenGL renderer on Mesa under Xvfb, two
# screenshots into godot-project/.godot/render/, which must show something and differ
# (godot-project/tests/render/overlay_render.gd). Prints what it found.
run_render_check() { # RENDER_VAR
    local -n render_godot=$1
    if [[ ${#render_godot[@]} -eq 0 ]]; then
        log "overlay render check skipped: no xvfb-run for this Godot"
        printf 'skipped: no xvfb-run for this Godot\n'
        return
    fi
    log "rendering the network overlay under Xvfb (OpenGL on Mesa)"
    local out rc=0 result
    out=$(timeout --kill-after=10 120 "${render_godot[@]}" --path "$PROJECT_DIR" \
        --rendering-driver opengl3 res://tests/render/overlay_render.tscn 2>&1) || rc=$?
    result=$(sed -n 's/^RENDER_RESULT //p' <<<"$out" | tail -n 1)
    if [[ $rc -ne 0 || -z $result ]]; then
        printf '%s\n' "$out" | tail -n 30 >&2
        die "the overlay render check failed (exit code $rc): ${result:-no result}"
    fi
    printf '%s (screenshots in godot-project/.godot/render/)\n' "$result"
}

# Checks the editor help pages of the classes (rust/enet-godot/doc_classes, compiled into the
# addon) with the Godot of the array GODOT_VAR, whose version is VERSION. First against the API:
# the skeleton `godot --doctool --gdextension-docs` generates from the loaded extension must be
# exactly our files with their description text removed (same classes, methods, signatures,
# members and constants), and no description may be empty. Then in a headless editor: the test
# project's docs_check plugin opens each class's help page and requires every description to be
# shown (Godot 4.3+; 4.2 editors cannot load extension docs). Prints what it found.
check_class_docs() { # GODOT_VAR VERSION
    local -n docs_godot=$1
    local version=$2 docs=$REPO/rust/enet-godot/doc_classes skeleton=$PROJECT_DIR/.godot/doc_skeleton
    sync_project_addon
    log "checking the class reference in rust/enet-godot/doc_classes against the API (godot --doctool)"
    rm -rf "$skeleton"
    mkdir -p "$skeleton"
    "${docs_godot[@]}" --headless --path "$PROJECT_DIR" --doctool "$skeleton" --gdextension-docs \
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
    case $version in
        4.[0-2].* | 4.[0-2])
            log "Godot $version cannot show extension docs in its editor (4.3+); skipping the editor check"
            printf 'matches the API (editor check skipped: Godot %s)\n' "$version"
            return
            ;;
    esac
    # An editor that finds no help cache (first start, or after --doctool, which deletes it)
    # rebuilds it and shows extension pages empty until the next start: Godot merges extension
    # docs only into a loaded cache. So one editor run to rebuild the cache first.
    log "checking that a headless editor shows the class reference (addons/rust_enet_docs_check)"
    timeout --kill-after=10 300 "${docs_godot[@]}" --headless --editor --path "$PROJECT_DIR" --quit \
        >/dev/null 2>&1 || die "the headless editor did not start and quit"
    local out rc=0
    out=$(timeout --kill-after=10 300 "${docs_godot[@]}" --headless --editor --path "$PROJECT_DIR" \
        -- --check-class-docs 2>&1) || rc=$?
    grep -E '^class docs check' <<<"$out" >&2 || true
    if [[ $rc -ne 0 ]] || ! grep -qx 'class docs check: OK' <<<"$out"; then
        printf '%s\n' "$out" | tail -n 40 >&2
        die "the editor does not show the class reference (exit code $rc)"
    fi
    printf 'matches the API and the editor shows every description\n'
}

# A project that has just received the addon, imported by a headless editor the way a game's CI
# does before exporting, with the step the README's Install section gives: Godot's list of
# extensions written first (without it, Godot 4.6 crashes at the exit of that first import,
# godotengine/godot#111048). The import must exit 0, load the library and print no error.
check_fresh_import() { # GODOT_VAR
    local -n import_godot=$1
    local project=$PROJECT_DIR/.godot/fresh-import out rc=0 problems
    log "importing a fresh project with the addon (godot --headless --import)"
    rm -rf "$project"
    mkdir -p "$project/addons" "$project/.godot"
    printf 'config_version=5\n\n[application]\n\nconfig/name="rust_enet fresh import"\n' >"$project/project.godot"
    cp -a "$ADDON_DIR" "$project/addons/"
    echo res://addons/rust_enet/rust_enet.gdextension >>"$project/.godot/extension_list.cfg"
    out=$(timeout --kill-after=10 300 "${import_godot[@]}" --headless --path "$project" --import 2>&1) || rc=$?
    problems=$(godot_failure_lines 'ERROR:' <<<"$out")
    if [[ $rc -ne 0 || -n $problems ]] || ! grep -q 'Initialize godot-rust' <<<"$out"; then
        printf '%s\n' "$out" | tail -n 30 >&2
        die "the first headless import of a fresh project with the addon failed (exit code $rc)${problems:+; errors:
$problems}"
    fi
    rm -rf "$project"
    printf 'exits 0, the library loaded, no error\n'
}
