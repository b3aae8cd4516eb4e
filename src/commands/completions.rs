//! `crpack completions SHELL` and `crpack man`: generated from the same clap definitions.

use std::path::PathBuf;

use clap_complete::Shell;

use crate::cli;
use crate::error::{Error, Result};
use crpack_core::error::{ExitCode, IoContext};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write crpack.1 and one page per subcommand into DIR instead of printing crpack.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run_completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = cli::command();
    clap_complete::generate(args.shell, &mut cmd, "crpack", &mut std::io::stdout());
    Ok(ExitCode::Success)
}

pub fn run_man(args: &ManArgs) -> Result<ExitCode> {
    let cmd = cli::command();
    match &args.out {
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_path(dir)?;
            clap_mangen::generate_to(cmd, dir).with_path(dir)?;
        }
    }
    Ok(ExitCode::Success)
}
