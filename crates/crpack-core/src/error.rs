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
    /// The command line is wrong (clap's own code).
    Usage = 2,
    /// Any other error: invalid project, I/O, network, credentials, service errors.
    Error = 3,
}

/// Everything that can go wrong, with the cause and (where there is one) the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is inconsistent in a way clap cannot express.
    #[error("{0}")]
    Usage(String),

    /// `crpack.toml` is missing or invalid.
    #[error(transparent)]
    Project(#[from] crate::manifest::ProjectError),

    /// The artifacts cannot be built within the service's rules.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// `crpack check` found errors (they were printed).
    #[error("the check found {errors} error(s); fix them and run `crpack check` again")]
    CheckFailed { errors: usize },

    /// A remote call failed (AWS or the sandbox): the message says which call and the fix.
    #[error("{0}")]
    Remote(String),

    /// A verification ran and did not pass (exit code 1).
    #[error("{0}")]
    VerificationFailed(String),

    /// Something else that stops the command.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::VerificationFailed(_) => ExitCode::VerificationFailed,
            _ => ExitCode::Error,
        }
    }

    /// A stable machine-readable kind for `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Project(_) => "project",
            Error::Bundle(_) => "bundle",
            Error::Io { .. } => "io",
            Error::CheckFailed { .. } => "check",
            Error::Remote(_) => "remote",
            Error::VerificationFailed(_) => "verification",
            Error::Other(_) => "other",
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
