use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = crpack::cli::Cli::parse();
    std::process::ExitCode::from(crpack::cli::run(cli) as u8)
}
