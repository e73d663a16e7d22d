//! `rust-enet-bench`: rust_enet against the C ENet library, side by side in one run.
//!
//! Without a role argument the binary is the orchestrator: for every scenario it starts a server
//! process and a client process (itself, re-executed with a role, for rust_enet; the C program
//! built from `c/enet_bench.c` for C ENet), collects the `RESULT` line each prints, and prints
//! one table with the ratio rust_enet / C ENet and the target. Server and clients are always
//! separate processes, so a server's CPU time is its own; both sides of a pair use the same
//! library. See `roles.rs` for the service pattern both implementations follow.
//!
//! Usage: `rust-enet-bench [--quick] [--json FILE] [--only tput,fanin-sock,...]` (see
//! `orchestrate::USAGE`).
#![forbid(unsafe_code)]

mod godot;
mod orchestrate;
mod process;
mod raw_udp;
mod report;
mod roles;
mod scenarios;
mod soak;
mod spoof;
mod sys;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(role) = args.first().filter(|a| !a.starts_with("--")) {
        return match run_role(role, &args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("rust-enet-bench {role}: {err}");
                ExitCode::from(2)
            }
        };
    }
    match orchestrate::Options::parse(&args) {
        Ok(Some(options)) => match orchestrate::run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("rust-enet-bench: {err}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => {
            println!("{}", orchestrate::USAGE);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rust-enet-bench: {err}\n{}", orchestrate::USAGE);
            ExitCode::from(2)
        }
    }
}

/// Runs one benchmark process role (the same names and arguments as the C program).
fn run_role(role: &str, args: &[String]) -> std::io::Result<()> {
    let arg = |i: usize| -> std::io::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| std::io::Error::other(format!("missing argument {}", i + 1)))
    };
    let num = |i: usize| -> std::io::Result<f64> {
        arg(i)?
            .parse()
            .map_err(|_| std::io::Error::other(format!("argument {} is not a number", i + 1)))
    };
    // A variant's extra trailing argument; without it, the base scenario's value.
    let num_or = |i: usize, default: usize| -> std::io::Result<usize> {
        match args.get(i) {
            Some(_) => Ok(num(i)? as usize),
            None => Ok(default),
        }
    };
    let port = || -> std::io::Result<u16> { Ok(num(0)? as u16) };
    match role {
        "tput-server" => roles::tput_server(num(0)?),
        "tput-client" => roles::tput_client(port()?, num(1)?, num_or(2, roles::TPUT_BACKLOG)?),
        "fanin-server" => roles::echo_server(num(0)? as usize, num(1)?),
        "fanin-clients" => {
            let hosts = num_or(3, roles::FANIN_HOSTS)?;
            roles::fanin_clients(port()?, num(1)? as usize, num(2)?, hosts)
        }
        "idle-server" => roles::idle_server(num(0)? as usize, num(1)?),
        "idle-clients" => roles::idle_clients(port()?, num(1)? as usize, num(2)?, num_or(3, 1)?),
        "echo-server" => roles::echo_server(1, 0.0),
        "lat-client" => roles::lat_client(port()?, num(1)?),
        "bulk-server" => roles::bulk_server(),
        "bulk-client" => roles::bulk_client(port()?, num(1)? as usize),
        "flood-server" => roles::flood_server(num(0)?),
        "flood-client" => roles::flood_client(port()?, num(1)?),
        "empty-service" => roles::empty_service(num(0)? as usize, num(1)?),
        "spoof-sources" => spoof::spoof_sources(
            num(0)? as u32,
            num(1)? as u32,
            num(2)?,
            num(3)?,
            num(4)? as u16,
        ),
        "join" => spoof::join(port()?, num(1)?),
        "soak" => soak::soak(num(0)?, num(1)? as usize),
        "flood-bench" => spoof::run(args),
        "udp-sink" => raw_udp::udp_sink(num(0)?),
        "udp-source" => raw_udp::udp_source(port()?, num(1)?),
        _ => Err(std::io::Error::other(format!("unknown role `{role}`"))),
    }
}
