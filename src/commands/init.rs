//! `crpack init [DIR] [--name NAME]`: scaffold a template project from the files in
//! `templates/init/`, compiled into the binary. Existing files are never overwritten.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::Context;
use crate::error::Result;
use crate::scaffold::{name_from_dir, scaffold};
use crpack_core::error::ExitCode;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the project in (default: the current directory, or -C DIR).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The template name (default: derived from the directory name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Serialize)]
struct InitJson<'a> {
    ok: bool,
    dir: &'a Path,
    name: &'a str,
    files: Vec<&'a str>,
}

pub fn run(ctx: &Context, args: &InitArgs) -> Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(|| ctx.project_dir());
    let name = match &args.name {
        Some(n) => n.clone(),
        None => name_from_dir(&dir),
    };
    let files = scaffold(&dir, &name)?;
    if ctx.out.json {
        ctx.out.json(&InitJson {
            ok: true,
            dir: &dir,
            name: &name,
            files,
        });
    } else {
        for f in &files {
            ctx.out.line(format!("created {}", dir.join(f).display()));
        }
        ctx.out.info(format!(
            "next: cd {} && crpack check && crpack run --local && crpack build   (then fill in [publish] and run crpack publish)",
            dir.display()
        ));
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_directories() {
        assert_eq!(
            name_from_dir(Path::new("/x/audience-overlap")),
            "audience-overlap"
        );
        assert_eq!(name_from_dir(Path::new("/x/My Project.v2")), "My-Project-v2");
        assert_eq!(name_from_dir(Path::new("/x/--")), "my-template");
    }
}
