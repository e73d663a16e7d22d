//! `rust-enet-rendezvous`: the noray-compatible rendezvous and relay server (see the
//! `rust_enet_rendezvous` crate doc for the protocol and `--help` for the configuration).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use rust_enet_rendezvous::Driver;
use rust_enet_rendezvous::cli::{self, Cli};
use rust_enet_rendezvous::log::StderrLog;

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Cli::Run(config)) => *config,
        Ok(Cli::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("rust-enet-rendezvous: {error}");
            return ExitCode::from(2);
        }
    };
    StderrLog::new(&config.log_level).install();
    let result = Driver::bind(config).and_then(Driver::run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rust-enet-rendezvous: {error}");
            ExitCode::FAILURE
        }
    }
}
