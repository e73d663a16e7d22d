// Shared by the build scripts of `tests/interop` and `rust/enet-bench` (pulled in with
// `include!`): compiles one C program against the system's libenet with the system C compiler
// (no `cc` crate) and returns the path of the binary in OUT_DIR.

/// Compiles `source` into `$OUT_DIR/<binary_name>`; panics with `install_hint` when the compiler
/// or libenet is missing.
fn build_c_program(
    source: &std::path::Path,
    binary_name: &str,
    install_hint: &str,
) -> std::path::PathBuf {
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let binary = out_dir.join(binary_name);
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");

    let (cflags, libs) = libenet_flags(install_hint);
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    // -O2: the optimisation level Debian builds libenet itself with.
    let output = std::process::Command::new(&compiler)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&binary)
        .arg(source)
        .args(&cflags)
        .args(&libs)
        .output();
    match output {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "compiling {} failed ({}):\n{}\n{install_hint}",
            source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!("cannot run the C compiler `{compiler}`: {err}\n{install_hint}"),
    }
    binary
}

/// Compiler and linker flags for libenet: pkg-config if it knows the library, else the Debian
/// default locations, checked so a missing library fails with an install hint, not a linker error.
fn libenet_flags(install_hint: &str) -> (Vec<String>, Vec<String>) {
    let query = |arg: &str| -> Option<Vec<String>> {
        let out = std::process::Command::new("pkg-config")
            .args([arg, "libenet"])
            .output()
            .ok()?;
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
    };
    if let (Some(cflags), Some(libs)) = (query("--cflags"), query("--libs")) {
        return (cflags, libs);
    }
    if !std::path::Path::new("/usr/include/enet/enet.h").exists() {
        panic!(
            "libenet headers not found (no pkg-config entry, no /usr/include/enet/enet.h)\n{install_hint}"
        );
    }
    (Vec::new(), vec!["-lenet".to_owned()])
}
