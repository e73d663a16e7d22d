//! Compiles the C ENet test peer (`tests/c-peer/enet_peer.c`) against the system's libenet with
//! the system C compiler, and exports its path to the tests as `C_ENET_PEER`.

include!("../c-peer/build_c_program.rs");

const INSTALL_HINT: &str = "the interop tests need the C ENet library as their reference: \
                            ./build.sh test installs it (Debian: apt-get install libenet-dev \
                            pkg-config gcc); plain `cargo test` leaves this crate out";

fn main() {
    let manifest =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let binary = build_c_program(
        &manifest.join("../c-peer/enet_peer.c"),
        "enet_peer",
        INSTALL_HINT,
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("../c-peer/build_c_program.rs").display()
    );
    println!("cargo:rustc-env=C_ENET_PEER={}", binary.display());
}
