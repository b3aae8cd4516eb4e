//! The files `crpack init` (and the demo) write: a template project from `templates/init/`.

use std::fs;
use std::path::Path;

use crpack_core::error::IoContext;
use crpack_core::fsutil;
use crpack_core::validate;

use crate::error::{CommandError, Error, Result};

/// The scaffold: (path in the project, contents). `{{name}}` is replaced by the template name.
const FILES: &[(&str, &str)] = &[
    ("crpack.toml", include_str!("../templates/init/crpack.toml")),
    (
        "src/entrypoint.py",
        include_str!("../templates/init/src/entrypoint.py"),
    ),
    (
        "lib/analysis_helpers/__init__.py",
        include_str!("../templates/init/lib/analysis_helpers/__init__.py"),
    ),
    (
        "samples/orders.csv",
        include_str!("../templates/init/samples/orders.csv"),
    ),
    (
        "samples/customers.csv",
        include_str!("../templates/init/samples/customers.csv"),
    ),
    (
        "requirements.txt",
        include_str!("../templates/init/requirements.txt"),
    ),
    (".gitignore", include_str!("../templates/init/gitignore")),
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
