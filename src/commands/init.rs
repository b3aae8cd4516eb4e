//! `crpack init [DIR] [--name NAME]`: scaffold a template project from the files in
//! `templates/init/`, compiled into the binary. Existing files are never overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::Context;
use crate::commands::error::{CommandError, Error, Result};
use crpack_core::error::{ExitCode, IoContext};
use crpack_core::fsutil;
use crpack_core::validate;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the project in (default: the current directory, or -C DIR).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The template name (default: derived from the directory name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// The scaffold: (path in the project, contents). `{{name}}` is replaced by the template name.
const FILES: &[(&str, &str)] = &[
    ("crpack.toml", include_str!("../../templates/init/crpack.toml")),
    (
        "src/entrypoint.py",
        include_str!("../../templates/init/src/entrypoint.py"),
    ),
    (
        "lib/analysis_helpers/__init__.py",
        include_str!("../../templates/init/lib/analysis_helpers/__init__.py"),
    ),
    (
        "samples/orders.csv",
        include_str!("../../templates/init/samples/orders.csv"),
    ),
    (
        "samples/customers.csv",
        include_str!("../../templates/init/samples/customers.csv"),
    ),
    (
        "requirements.txt",
        include_str!("../../templates/init/requirements.txt"),
    ),
    (".gitignore", include_str!("../../templates/init/gitignore")),
];

/// A template name from a directory name: characters the service rejects become `-`.
pub fn name_from_dir(dir: &Path) -> String {
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name = String::new();
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name = name
        .trim_end_matches('-')
        .chars()
        .take(validate::limits::NAME_MAX)
        .collect::<String>();
    let name = name.trim_end_matches('-').to_string();
    if validate::template_name(&name).is_ok() {
        name
    } else {
        "my-template".to_string()
    }
}

#[derive(Serialize)]
struct InitJson<'a> {
    ok: bool,
    dir: &'a Path,
    name: &'a str,
    files: Vec<&'a str>,
}

/// Writes the scaffold into `dir`. Fails before writing anything if any file exists.
pub fn scaffold(dir: &Path, name: &str) -> Result<Vec<&'static str>> {
    validate::template_name(name).map_err(|m| Error::Usage(format!("--name: {m}")))?;
    let existing: Vec<String> = FILES
        .iter()
        .filter(|(p, _)| dir.join(p).exists())
        .map(|(p, _)| dir.join(p).display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(CommandError::WouldOverwrite { files: existing }.into());
    }
    fs::create_dir_all(dir).with_path(dir)?;
    for (rel, contents) in FILES {
        let path = dir.join(rel);
        fsutil::write_atomic(&path, contents.replace("{{name}}", name).as_bytes()).with_path(&path)?;
    }
    Ok(FILES.iter().map(|(p, _)| *p).collect())
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
