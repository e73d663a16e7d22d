//! Compiles the C ENet test peer (`tests/c-peer/enet_peer.c`) against the system's libenet with
//! the system C compiler, and exports its path to the tests as `C_ENET_PEER`.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "the C ENet library is required for the interop tests: \
                            apt-get install libenet-dev (and a C compiler: apt-get install gcc)";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let source = manifest.join("../c-peer/enet_peer.c");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let binary = out_dir.join("enet_peer");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");

    let (cflags, libs) = libenet_flags();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(&compiler)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&binary)
        .arg(&source)
        .args(&cflags)
        .args(&libs)
        .output();
    match output {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "compiling {} failed ({}):\n{}\n{INSTALL_HINT}",
            source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!("cannot run the C compiler `{compiler}`: {err}\n{INSTALL_HINT}"),
    }
    println!("cargo:rustc-env=C_ENET_PEER={}", binary.display());
}

/// Compiler and linker flags for libenet: pkg-config if it knows the library, else the Debian
/// default locations, checked so a missing library fails with an install hint, not a linker error.
fn libenet_flags() -> (Vec<String>, Vec<String>) {
    let query = |arg: &str| -> Option<Vec<String>> {
        let out = Command::new("pkg-config")
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
    if !Path::new("/usr/include/enet/enet.h").exists() {
        panic!(
            "libenet headers not found (no pkg-config entry, no /usr/include/enet/enet.h)\n{INSTALL_HINT}"
        );
    }
    (Vec::new(), vec!["-lenet".to_owned()])
}
