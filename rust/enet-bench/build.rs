//! Compiles the C ENet side of the benchmarks (`c/enet_bench.c`) against the system's libenet
//! with the system C compiler (no `cc` crate) and exports its path as `C_ENET_BENCH`.

include!("../../tests/c-peer/build_c_program.rs");

const INSTALL_HINT: &str = "the benchmarks need the C ENet library as their reference: \
                            ./build.sh bench installs it (Debian: apt-get install libenet-dev \
                            pkg-config gcc); plain `cargo build` leaves this crate out";

fn main() {
    let manifest =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let binary = build_c_program(&manifest.join("c/enet_bench.c"), "enet_bench", INSTALL_HINT);
    let shared = manifest.join("../../tests/c-peer/build_c_program.rs");
    println!("cargo:rerun-if-changed={}", shared.display());
    println!("cargo:rustc-env=C_ENET_BENCH={}", binary.display());
}
