//! Compiles the C ENet side of the benchmarks (`c/enet_bench.c`) against the system's libenet
//! with the system C compiler (no `cc` crate) and exports its path as `C_ENET_BENCH`.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "the benchmarks need the C ENet library as their reference: \
                            apt-get install libenet-dev pkg-config (and a C compiler: gcc)";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let source = manifest.join("c/enet_bench.c");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let binary = out_dir.join("enet_bench");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");

    let (cflags, libs) = libenet_flags();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    // -O2: the optimisation level Debian builds libenet itself with.
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
    println!("cargo:rustc-env=C_ENET_BENCH={}", binary.display());
}

/// Compiler and linker flags for libenet from pkg-config, else Debian's default locations.
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
            "libenet not found (no pkg-config entry, no /usr/include/enet/enet.h)\n{INSTALL_HINT}"
        );
    }
    (Vec::new(), vec!["-lenet".to_owned()])
}
