//! crpack's command line: flags, dispatch, printing and exit codes. The work is done by
//! `crpack-core` (the domain), `crpack-runner` (local PySpark runs) and, with the default
//! `sandbox` feature, `crpack-sandbox` (a local S3 and Clean Rooms endpoint).

mod cli;
mod commands;
mod error;
mod output;
mod render;
mod scaffold;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    std::process::ExitCode::from(cli::run(cli) as u8)
}
