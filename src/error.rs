//! The commands' error: a command line that is wrong (exit 2), an error of the library, or a
//! failure of one command's own steps (the async runtime, the sandbox, the local runner).
//!
//! The library never sees the command line, so exit code 2 is decided here: a command checks
//! its flags, builds plain values (a target, a parameter map) and reports a bad combination as
//! [`Error::Usage`].

use std::fmt;
use std::io;
use std::path::PathBuf;

use crpack_core::error::ExitCode;

/// Everything a command can fail with.
#[derive(Debug)]
pub enum Error {
    /// The command line is inconsistent in a way clap cannot express: exit code 2.
    Usage(String),
    /// The library's error (configuration, I/O, remote state, a failed verification).
    Core(crpack_core::error::Error),
    /// One command's own step failed: exit code 3.
    Command(CommandError),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Core(e) => e.exit_code(),
            Error::Command(_) => ExitCode::Error,
        }
    }

    /// The stable kind for `--json` output (one of the kinds the README lists).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Core(e) => e.kind(),
            Error::Command(_) => "other",
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Core(crpack_core::error::Error::io(path, source))
    }

    /// A verification ran and did not pass (exit code 1).
    #[cfg(feature = "sandbox")]
    pub fn verification_failed(message: impl Into<String>) -> Self {
        Error::Core(crpack_core::error::Error::VerificationFailed(message.into()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m),
            Error::Core(e) => e.fmt(f),
            Error::Command(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(_) => None,
            Error::Core(e) => e.source(),
            Error::Command(e) => e.source(),
        }
    }
}

impl From<crpack_core::error::Error> for Error {
    fn from(e: crpack_core::error::Error) -> Self {
        Error::Core(e)
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Error::Command(e)
    }
}

/// Lets a library error that is not yet a `crpack_core::error::Error` convert in one step.
macro_rules! from_core {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Core(e.into())
            }
        })*
    };
}

from_core!(
    crpack_core::manifest::ProjectError,
    crpack_core::bundle::BundleError,
    crpack_core::aws::RemoteError,
    crpack_core::publish::PublishError,
    crpack_core::verify::VerifyError,
);

/// The result type of the commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure of one command's own steps, with the cause and the fix.
#[derive(Debug)]
pub enum CommandError {
    /// The tokio runtime could not start (threads, the I/O driver).
    Runtime(io::Error),
    /// `crpack demo`: the sandbox did not start.
    #[cfg(feature = "sandbox")]
    DemoSandbox(io::Error),
    /// `crpack sandbox`: the sandbox did not start on the address asked for.
    #[cfg(feature = "sandbox")]
    SandboxListen {
        listen: std::net::SocketAddr,
        source: io::Error,
    },
    /// The sandbox could not be seeded with the demo collaboration.
    #[cfg(feature = "sandbox")]
    SandboxSeed(crpack_sandbox::seed::SeedError),
    /// The seed's description could not be written as JSON.
    #[cfg(feature = "sandbox")]
    SeedRecord(serde_json::Error),
    /// A stop signal cannot be listened for.
    #[cfg(feature = "sandbox")]
    Signal { name: &'static str, source: io::Error },
    /// `crpack demo`: the publish step finished without writing a lock.
    #[cfg(feature = "sandbox")]
    PublishWroteNoLock,
    /// `crpack demo`: the lock names no entry point.
    #[cfg(feature = "sandbox")]
    LockHasNoEntryPoint,
    /// `crpack run`: the user stopped watching a job that goes on.
    StoppedWatching { job_id: String },
    /// `crpack jobs`: no membership of the caller holds the job.
    NoMembershipHasJob { job_id: String },
    /// `crpack check --import-on-arm64`: no emulator or arm64 root.
    NoArm64Root,
    /// `crpack check --import-on-arm64` on a project without a virtual environment.
    NotAnEnvironment,
    /// `crpack init`: files of the scaffold exist already.
    WouldOverwrite { files: Vec<String> },
    /// `crpack lock`: the input file does not exist.
    NoLockInput { input: PathBuf },
    /// `crpack lock`: resolving the requirements failed.
    Lock(crpack_core::venv::fetch::LockError),
    /// The requirements file cannot be read for this host.
    Requirements(crpack_core::venv::requirements::RequirementsError),
    /// `crpack run --local`: a sample file configured in `[local] samples` does not exist.
    SampleMissing { table: String, shown: String },
    /// `crpack run --local`: no sample file for a table, and none configured.
    NoSample {
        table: String,
        first: String,
        second: String,
    },
    /// `crpack run --local`: the local runner could not run.
    Runner(crpack_runner::RunnerError),
    /// The local runtime could not be provisioned.
    Provision(crpack_runner::provision::ProvisionError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            #[cfg(feature = "sandbox")]
            CommandError::DemoSandbox(e) => write!(f, "cannot start the sandbox: {e}"),
            #[cfg(feature = "sandbox")]
            CommandError::SandboxListen { listen, source } => write!(
                f,
                "cannot start the sandbox on {listen}: {source}; pick another address with --listen 127.0.0.1:0"
            ),
            #[cfg(feature = "sandbox")]
            CommandError::SandboxSeed(e) => write!(f, "seeding the sandbox failed: {e}"),
            #[cfg(feature = "sandbox")]
            CommandError::SeedRecord(e) => write!(f, "{e}"),
            #[cfg(feature = "sandbox")]
            CommandError::Signal { name, source } => write!(
                f,
                "cannot listen for {name} ({source}), so the sandbox could not stop cleanly; \
                 check that signals are not blocked for crpack"
            ),
            #[cfg(feature = "sandbox")]
            CommandError::PublishWroteNoLock => f.write_str("publish wrote no lock"),
            #[cfg(feature = "sandbox")]
            CommandError::LockHasNoEntryPoint => f.write_str("the lock has no entry point"),
            CommandError::StoppedWatching { job_id } => write!(
                f,
                "stopped watching; job {job_id} goes on: see it with `crpack jobs show {job_id}`, \
                 stop it with `crpack jobs cancel {job_id}`"
            ),
            CommandError::NoMembershipHasJob { job_id } => write!(
                f,
                "no membership of this account has job {job_id}; pass --membership ID"
            ),
            CommandError::NoArm64Root => f.write_str(
                "--import-on-arm64 needs qemu-user-static on PATH and an arm64 root with usr/bin/python3.11 \
                 (at --arm64-root, CRPACK_ARM64_ROOT or ~/.cache/crpack/arm64-root): crpack's scripts/arm64-root.sh \
                 installs and makes both on Debian or Ubuntu",
            ),
            CommandError::NotAnEnvironment => f.write_str(
                "--import-on-arm64 checks a virtual environment: this project's additional artifact is not one \
                 ([bundle] requirements/include, or archive = a venv-pack .tar.gz)",
            ),
            CommandError::WouldOverwrite { files } => write!(
                f,
                "refusing to overwrite existing files: {}; run init in an empty directory or move them away",
                files.join(", ")
            ),
            CommandError::NoLockInput { input } => write!(
                f,
                "{} does not exist: list the packages the environment needs there, one per line \
                 (e.g. `numpy==1.26.*`), then run crpack lock again",
                input.display()
            ),
            CommandError::Lock(e) => e.fmt(f),
            CommandError::Requirements(e) => e.fmt(f),
            CommandError::SampleMissing { table, shown } => write!(
                f,
                "no sample data for table {table:?}: {shown} (from [local] samples in {}) does not exist",
                crpack_core::manifest::MANIFEST_NAME
            ),
            CommandError::NoSample { table, first, second } => write!(
                f,
                "no sample data for table {table:?}: create {first} (CSV with a header row) or {second}, \
                 or map the table to a file in crpack.toml: [local] samples = {{ {table} = \"path/to/file.csv\" }}"
            ),
            CommandError::Runner(e) => e.fmt(f),
            CommandError::Provision(e) => write!(f, "cannot provision the local runtime: {e}"),
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommandError::Runtime(e) => Some(e),
            #[cfg(feature = "sandbox")]
            CommandError::DemoSandbox(e) => Some(e),
            #[cfg(feature = "sandbox")]
            CommandError::SandboxListen { source, .. } | CommandError::Signal { source, .. } => Some(source),
            #[cfg(feature = "sandbox")]
            CommandError::SandboxSeed(e) => Some(e),
            #[cfg(feature = "sandbox")]
            CommandError::SeedRecord(e) => Some(e),
            CommandError::Lock(e) => Some(e),
            CommandError::Requirements(e) => Some(e),
            CommandError::Runner(e) => Some(e),
            CommandError::Provision(e) => Some(e),
            _ => None,
        }
    }
}

/// 0 verified, 1 when something is wrong for certain (differing bytes, a gone object or
/// version, a template problem, a policy violation), 3 when the check could not be made.
pub fn verification_exit(report: &crpack_core::report::VerifyReport, policy_violations: usize) -> ExitCode {
    match report.outcome {
        crpack_core::report::Outcome::Verified if policy_violations == 0 => ExitCode::Success,
        crpack_core::report::Outcome::Unchecked if policy_violations == 0 => ExitCode::Error,
        _ => ExitCode::VerificationFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_domain() {
        // The command line: 2.
        let usage = Error::Usage("--worker-type needs --workers N".into());
        assert_eq!(usage.exit_code(), ExitCode::Usage);
        assert_eq!(usage.kind(), "usage");
        // Configuration: 3, not 2.
        let config = Error::from(crpack_core::error::Error::from(
            crpack_core::aws::ConfigError::NoRegion,
        ));
        assert_eq!(config.exit_code(), ExitCode::Error);
        assert_eq!(config.kind(), "other");
        // A verification that ran and failed: 1.
        let failed = Error::verification_failed("the recorded hashes differ");
        assert_eq!(failed.exit_code(), ExitCode::VerificationFailed);
        assert_eq!(failed.kind(), "verification");
        // A command's own step: 3.
        let own = Error::from(CommandError::PublishWroteNoLock);
        assert_eq!(own.exit_code(), ExitCode::Error);
        assert_eq!(own.kind(), "other");
        // Remote state stays "remote".
        let remote = Error::from(crpack_core::aws::RemoteError::empty_response("GetMembership m"));
        assert_eq!(remote.kind(), "remote");
        assert_eq!(remote.to_string(), "GetMembership m: empty response");
    }

    #[test]
    fn messages_keep_the_cause_and_the_fix() {
        let e = Error::from(CommandError::NoMembershipHasJob { job_id: "j1".into() });
        assert_eq!(
            e.to_string(),
            "no membership of this account has job j1; pass --membership ID"
        );
        let e = Error::from(CommandError::StoppedWatching { job_id: "j2".into() });
        let msg = e.to_string();
        assert!(
            msg.contains("goes on") && msg.contains("crpack jobs cancel j2"),
            "{msg}"
        );
        let e = Error::from(CommandError::NoLockInput {
            input: PathBuf::from("requirements.in"),
        });
        let msg = e.to_string();
        assert!(
            msg.contains("requirements.in does not exist") && msg.contains("run crpack lock again"),
            "{msg}"
        );
        let e = Error::from(CommandError::NoArm64Root);
        let msg = e.to_string();
        assert!(msg.starts_with("--import-on-arm64 needs qemu-user-static") && msg.contains("--arm64-root"));
        assert!(msg.contains("scripts/arm64-root.sh"), "{msg}");
    }
}
