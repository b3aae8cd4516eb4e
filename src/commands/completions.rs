//! `crpack completions SHELL` and `crpack man`: generated from the same clap definitions.

use std::path::PathBuf;

use clap_complete::Shell;

use serde::Serialize;

use crate::cli::{self, Context};
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

/// `--json` forms: the generated text inside one document.
#[derive(Serialize)]
struct Generated<'a> {
    ok: bool,
    /// `completions`: the shell; `man`: the page's file name.
    name: &'a str,
    text: String,
}

pub fn run_completions(ctx: &Context, args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = cli::command();
    if ctx.out.json {
        let mut buf = Vec::new();
        clap_complete::generate(args.shell, &mut cmd, "crpack", &mut buf);
        let shell = args.shell.to_string();
        let text = String::from_utf8_lossy(&buf).into_owned();
        ctx.out.json(&Generated {
            ok: true,
            name: &shell,
            text,
        });
    } else {
        clap_complete::generate(args.shell, &mut cmd, "crpack", &mut std::io::stdout());
    }
    Ok(ExitCode::Success)
}

/// What `man --out DIR` wrote.
#[derive(Serialize)]
struct ManPages {
    ok: bool,
    out_dir: String,
    /// File names, sorted: `crpack.1` and one `crpack-<subcommand>.1` per subcommand.
    files: Vec<String>,
}

/// Writes every page into `dir`: generated in a staging directory inside it, then each renamed
/// into place, so a page is never seen half written and an interrupted run leaves only a
/// `.crpack-man-*` directory that the next run does not trip over.
fn write_pages(dir: &std::path::Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_path(dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".crpack-man-")
        .tempdir_in(dir)
        .with_path(dir)?;
    clap_mangen::generate_to(cli::command(), staging.path()).with_path(staging.path())?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(staging.path()).with_path(staging.path())? {
        let entry = entry.with_path(staging.path())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let to = dir.join(&name);
        std::fs::rename(entry.path(), &to).with_path(&to)?;
        files.push(name);
    }
    files.sort();
    Ok(files)
}

pub fn run_man(ctx: &Context, args: &ManArgs) -> Result<ExitCode> {
    match &args.out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cli::command())
                .render(&mut buf)
                .map_err(|e| Error::io("<stdout>", e))?;
            if ctx.out.json {
                let text = String::from_utf8_lossy(&buf).into_owned();
                ctx.out.json(&Generated {
                    ok: true,
                    name: "crpack.1",
                    text,
                });
            } else {
                use std::io::Write;
                std::io::stdout()
                    .lock()
                    .write_all(&buf)
                    .map_err(|e| Error::io("<stdout>", e))?;
            }
        }
        Some(dir) => {
            let files = write_pages(dir)?;
            let out_dir = dir.display().to_string();
            ctx.out.result(
                &ManPages {
                    ok: true,
                    out_dir,
                    files: files.clone(),
                },
                || {
                    ctx.out.line(format!(
                        "man  wrote {} pages to {} (crpack.1 and one per subcommand)",
                        files.len(),
                        crate::output::escape(&dir.display().to_string()),
                    ))
                },
            );
        }
    }
    Ok(ExitCode::Success)
}
