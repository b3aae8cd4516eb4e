//! The verified bytes, at hand for a person to read: after a verification, each artifact whose
//! bytes were obtained is fetched again from the same place (the shared file, the exact S3
//! version that was hashed, or a rebuild) and kept only if it hashes to what the verification
//! saw. What a review shows is therefore exactly what was verified.

use std::path::{Path, PathBuf};

use crate::artifact::{Artifact, Role};
use crate::aws::Aws;
use crate::bundle::{self, Plan};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::manifest::Project;
use crate::report::{ArtifactCheck, VerifyReport};
use crate::verify::{Source, s3};

/// The local copies of a verification's artifacts.
#[derive(Debug, Default)]
pub struct Obtained {
    /// By role: a local file holding exactly the bytes the verification hashed.
    files: Vec<(Role, PathBuf)>,
    /// Why an artifact's bytes are not at hand, by role.
    pub missing: Vec<(Role, String)>,
    /// Temporary copies live as long as this.
    _temps: Vec<tempfile::NamedTempFile>,
    _dir: Option<tempfile::TempDir>,
}

impl Obtained {
    /// The local file holding the verified bytes of the `role` artifact.
    pub fn path(&self, role: Role) -> Option<&Path> {
        self.files
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p.as_path())
    }
}

/// Fetches again the bytes `report` hashed, from `source`.
pub async fn obtain(aws: Option<&Aws>, report: &VerifyReport, source: &Source) -> Result<Obtained> {
    let mut out = Obtained::default();
    let hashed: Vec<(&ArtifactCheck, Sha256Digest)> = report
        .checks
        .iter()
        .filter_map(|c| {
            let sha = c
                .actual_sha256
                .as_deref()
                .and_then(|h| Sha256Digest::parse(h).ok());
            match sha {
                Some(sha) => Some((c, sha)),
                None => {
                    out.missing.push((
                        c.role,
                        format!("the verification obtained no bytes ({})", c.verdict.as_str()),
                    ));
                    None
                }
            }
        })
        .collect();
    if hashed.is_empty() {
        return Ok(out);
    }
    match source {
        Source::Files(_) => {
            for (c, sha) in hashed {
                if let Some(p) = c.checked.as_deref() {
                    out.keep_if_same(c.role, PathBuf::from(p), sha);
                }
            }
        }
        Source::S3 { .. } | Source::Lock(_) => {
            let Some(aws) = aws else {
                return Ok(out);
            };
            for (c, sha) in hashed {
                let (Some(version), Some(expected)) = (
                    c.version_id.as_deref(),
                    report.template.artifacts.iter().find(|a| a.role == c.role),
                ) else {
                    out.missing.push((
                        c.role,
                        "the verification recorded no S3 version to fetch again".into(),
                    ));
                    continue;
                };
                let temp = s3::fetch_version(aws, expected, version).await?;
                if out.keep_if_same(c.role, temp.path().to_path_buf(), sha) {
                    out._temps.push(temp);
                }
            }
        }
        Source::Project(dir) => {
            let (temp, built) = rebuild(dir)?;
            for (c, sha) in hashed {
                match built.iter().find(|a| a.role == c.role) {
                    Some(a) => {
                        out.keep_if_same(c.role, a.path.clone(), sha);
                    }
                    None => out.missing.push((
                        c.role,
                        format!("the project at {} builds no {} artifact", dir.display(), c.role),
                    )),
                }
            }
            out._dir = Some(temp);
        }
    }
    Ok(out)
}

impl Obtained {
    /// Keeps `path` for `role` when it still hashes to `sha`; otherwise says why not.
    fn keep_if_same(&mut self, role: Role, path: PathBuf, sha: Sha256Digest) -> bool {
        match Sha256Digest::of_file(&path) {
            Ok((got, _)) if got == sha => {
                self.files.push((role, path));
                true
            }
            Ok((got, _)) => {
                self.missing.push((
                    role,
                    format!(
                        "{} changed after it was verified (now SHA-256 {got}); run the verification again",
                        path.display()
                    ),
                ));
                false
            }
            Err(e) => {
                self.missing
                    .push((role, format!("{} cannot be read again: {e}", path.display())));
                false
            }
        }
    }
}

/// Rebuilds the project at `dir` into a temporary directory.
fn rebuild(dir: &Path) -> Result<(tempfile::TempDir, Vec<Artifact>)> {
    let project = Project::discover(dir)?;
    let plan = Plan::resolve(&project, None)?;
    let stamp = bundle::Stamp::from_env()?;
    let temp = tempfile::Builder::new()
        .prefix("crpack-review-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let built = bundle::build_into(&plan, temp.path(), &stamp, &mut |_| {})?;
    Ok((temp, built.artifacts))
}
