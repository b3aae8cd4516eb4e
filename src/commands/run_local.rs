//! `crpack run --local` (placeholder until the local runner lands).

use crate::cli::Context;
use crate::error::{Error, ExitCode, Result};

/// Options of a local run.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// A parameter value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

pub fn run_local(_ctx: &Context, _args: &LocalArgs) -> Result<ExitCode> {
    Err(Error::Other("local runs are not available in this build".into()))
}
