//! The error type of every command and the documented exit codes.

use std::io;
use std::path::PathBuf;

/// Exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success = 0,
    /// A verification ran and failed: a hash mismatch, a missing artifact, a policy violation.
    VerificationFailed = 1,
    /// The command line is wrong (clap's own code, and the binary's own checks).
    Usage = 2,
    /// Any other error: invalid project, I/O, network, credentials, service errors.
    Error = 3,
}

/// Everything that can go wrong, with the cause and (where there is one) the fix in the message.
///
/// Command-line mistakes are not here: the library takes validated values, and the binary turns
/// a bad command line into exit code 2 itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `crpack.toml` is missing or invalid.
    #[error(transparent)]
    Project(#[from] crate::manifest::ProjectError),

    /// The artifacts cannot be built within the service's rules.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),

    /// The built artifacts cannot be placed or recorded (names, keys, the build record).
    #[error(transparent)]
    Artifacts(#[from] crate::bundle::ArtifactError),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// `crpack check` found errors (they were printed).
    #[error("the check found {errors} error(s); fix them and run `crpack check` again")]
    CheckFailed { errors: usize },

    /// A check could not run (the arm64 emulation, the environment it imports).
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),

    /// The AWS configuration is incomplete (no region).
    #[error(transparent)]
    Config(#[from] crate::aws::ConfigError),

    /// A remote call failed (AWS or the sandbox): the message says which call and the fix.
    #[error(transparent)]
    Remote(#[from] crate::aws::RemoteError),

    /// A request could not be assembled from the values given to the SDK.
    #[error(transparent)]
    Request(#[from] crate::aws::RequestError),

    /// `crpack.lock` cannot be read or written.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),

    /// Publishing stopped: a preflight, an upload or the registration found a problem.
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),

    /// A review or an approval could not go on (the policy file, the tables' rules).
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),

    /// A protected job could not be found or started.
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),

    /// A finished job's results cannot be found, read or downloaded (boxed: its messages carry
    /// several names).
    #[error(transparent)]
    Results(#[from] Box<crate::jobs::results::ResultsError>),

    /// A verification ran and did not pass (exit code 1).
    #[error("{0}")]
    VerificationFailed(String),
}

impl Error {
    /// The exit code this error maps to: 1 for a failed verification, 3 for everything else
    /// (configuration, I/O, remote state, the service). Exit code 2 belongs to the command line,
    /// which the binary checks before calling in here.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::VerificationFailed(_) => ExitCode::VerificationFailed,
            _ => ExitCode::Error,
        }
    }

    /// A stable machine-readable kind for `--json` output (one of the kinds the README lists).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Project(_) => "project",
            Error::Bundle(_) => "bundle",
            Error::Io { .. } => "io",
            Error::CheckFailed { .. } => "check",
            Error::Remote(_) => "remote",
            Error::VerificationFailed(_) => "verification",
            Error::Artifacts(_)
            | Error::Check(_)
            | Error::Config(_)
            | Error::Request(_)
            | Error::Lock(_)
            | Error::Publish(_)
            | Error::Verify(_)
            | Error::Job(_)
            | Error::Results(_) => "other",
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the path to an I/O error.
pub trait IoContext<T> {
    fn with_path(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckError;
    use crate::lock::LockError;
    use crate::publish::PublishError;
    use crate::verify::VerifyError;

    #[test]
    fn domain_errors_exit_3_and_keep_their_json_kind() {
        let errors: Vec<Error> = vec![
            PublishError::NoVersionId {
                bucket: "b".into(),
                key: "k".into(),
            }
            .into(),
            VerifyError::WildcardRule {
                table: "orders".into(),
                wildcard: "ANY_QUERY".into(),
            }
            .into(),
            CheckError::NoEnvironmentBuilt.into(),
            crate::bundle::ArtifactError::SameName { name: "a.py".into() }.into(),
            crate::jobs::JobError::NoMembershipHasJob { job_id: "j".into() }.into(),
        ];
        for e in errors {
            assert_eq!(e.exit_code(), ExitCode::Error, "{e}");
            assert_eq!(e.kind(), "other", "{e}");
        }
        let failed = Error::VerificationFailed("hash mismatch".into());
        assert_eq!(failed.exit_code(), ExitCode::VerificationFailed);
        assert_eq!(failed.kind(), "verification");
    }

    #[test]
    fn messages_carry_the_cause_and_the_fix() {
        let e = Error::from(PublishError::VersioningNotEnabled {
            bucket: "art".into(),
            state: "Suspended".into(),
        });
        assert_eq!(
            e.to_string(),
            "bucket versioning is Suspended on art: Clean Rooms pins object versions, so it must be Enabled; \
             enable it with `aws s3api put-bucket-versioning --bucket art --versioning-configuration Status=Enabled`"
        );
        let e = Error::from(PublishError::KeyTaken {
            bucket: "b".into(),
            key: "k".into(),
            stored: "none, or a composite multipart checksum".into(),
            ours: "ab".into(),
        });
        let msg = e.to_string();
        assert!(
            msg.starts_with("s3://b/k already exists with other content (stored SHA-256 none")
                && msg.contains("use another [publish] prefix"),
            "{msg}"
        );
        let e = Error::from(VerifyError::NoCustomRule {
            table: "orders".into(),
            configured_table: "ct1".into(),
            template_arn: "arn:t".into(),
        });
        let msg = e.to_string();
        assert!(
            msg.contains("has no CUSTOM analysis rule")
                && msg.contains(r#"'{"v1":{"custom":{"allowedAnalyses":["arn:t"]}}}'"#),
            "{msg}"
        );
        let source = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = Error::from(LockError::NotALock {
            path: "crpack.lock".into(),
            source,
        });
        let msg = e.to_string();
        assert!(
            msg.starts_with("crpack.lock is not a crpack lock file (")
                && msg.ends_with("written by `crpack publish`"),
            "{msg}"
        );
    }

    #[test]
    fn library_messages_name_no_flags() {
        for e in [CheckError::NoArm64Root, CheckError::NotAnEnvironment] {
            let msg = e.to_string();
            assert!(!msg.contains("--"), "{msg}");
            assert!(msg.contains("importing on arm64"), "{msg}");
        }
    }
}
