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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    std::process::ExitCode::from(cli::run(cli) as u8)
}

/// A command line clap refused: its message on stderr as always (help and version go to stdout
/// with exit 0), and with `--json` also the error document on stdout, kind `usage`.
fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let code = e.exit_code();
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json && !informational {
        let doc = serde_json::json!({ "ok": false, "error": { "kind": "usage", "message": first_line(&e) } });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    let _ = e.print();
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(2))
}

/// The first line of clap's message, without its `error: ` prefix.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}
