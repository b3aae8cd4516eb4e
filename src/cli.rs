//! The command line: clap definitions, shared context, and dispatch to one module per
//! subcommand. `main.rs` only parses and turns the returned code into the process exit status.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::error::{Error, Result};
use crate::output::{ColorChoice, Output};
use crpack_core::error::ExitCode;
use crpack_core::verify::{Source, Target, Via};

/// Bundle, publish, verify and approve AWS Clean Rooms PySpark analysis templates.
#[derive(Debug, Parser)]
#[command(name = "crpack", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 any other error.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Run as if started in DIR (where crpack.toml is looked up).
    #[arg(short = 'C', long = "project", value_name = "DIR", global = true)]
    pub project: Option<PathBuf>,
    /// Print one JSON document with the result on stdout (stable; see the README).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only results and warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// When to use colour (NO_COLOR is honoured in `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// AWS connection options (the default credential chain does the rest: environment,
/// profiles, SSO, `AWS_ENDPOINT_URL*`).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// The AWS profile to use (else AWS_PROFILE or the default chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region (else AWS_REGION, the profile, or [publish] region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    /// The plain options the core loads clients from.
    pub fn options(&self) -> crpack_core::aws::AwsOptions {
        crpack_core::aws::AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
        }
    }
}

/// Through which collaboration a template is seen: your membership in it, or its id.
#[derive(Debug, Clone, Args)]
pub struct ViaArgs {
    /// Your membership in the template's collaboration.
    #[arg(long, value_name = "ID", required_unless_present = "collaboration")]
    pub membership: Option<String>,
    /// The collaboration id (instead of --membership).
    #[arg(long, value_name = "ID", conflicts_with = "membership")]
    pub collaboration: Option<String>,
}

impl ViaArgs {
    /// The membership when given, else the collaboration; neither is a usage error.
    pub fn via(&self) -> Result<crpack_core::verify::Via, Error> {
        via(self.membership.as_deref(), self.collaboration.as_deref())
    }
}

/// `--membership` when given, else `--collaboration`; neither is a usage error.
pub fn via(membership: Option<&str>, collaboration: Option<&str>) -> Result<crpack_core::verify::Via, Error> {
    use crpack_core::verify::Via;
    match (membership, collaboration) {
        (Some(m), _) => Ok(Via::Membership(m.to_string())),
        (None, Some(c)) => Ok(Via::Collaboration(c.to_string())),
        (None, None) => Err(Error::Usage("pass --membership ID or --collaboration ID".into())),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole path end to end on the embedded sandbox (no AWS account needed).
    #[cfg(feature = "sandbox")]
    Demo(commands::demo::DemoArgs),
    /// Create a new template project (crpack.toml, an entry point, a library, sample data).
    Init(commands::init::InitArgs),
    /// Validate crpack.toml and statically check the entry point.
    Check(commands::check::CheckArgs),
    /// Build the entry point and the additional artifact into a directory, with their SHA-256.
    Build(commands::build::BuildArgs),
    /// Pin loose requirements (requirements.in) with hashes for the runtime's platform (uv).
    Lock(commands::lock::LockArgs),
    /// Print SHA-256 digests exactly as `sha256sum` does.
    Hash(commands::hash::HashArgs),
    /// Upload the artifacts to S3 and register the PYSPARK_1_0 analysis template.
    Publish(commands::publish::PublishArgs),
    /// List the collaboration's PySpark templates and whether your tables allow each.
    Templates(commands::templates::TemplatesArgs),
    /// What changed between two templates: metadata, recorded hashes, and code and archive diffs.
    Diff(commands::diff::DiffArgs),
    /// Check that a template's artifacts are exactly the bytes its sourceMetadata records.
    Verify(commands::verify::VerifyArgs),
    /// Verify a template, then allow it on your configured tables' CUSTOM analysis rules.
    Approve(commands::approve::ApproveArgs),
    /// Remove a template from your configured tables' CUSTOM analysis rules.
    Revoke(commands::approve::RevokeArgs),
    /// Run an approved template as a protected job and watch it; or --local on local PySpark.
    Run(commands::run::RunArgs),
    /// List, show and cancel protected jobs; download and preview a finished job's results.
    Jobs(commands::jobs::JobsArgs),
    /// Check the preconditions of publishing and running, one line each with the fix.
    Doctor(commands::doctor::DoctorArgs),
    /// Run a local S3 + Clean Rooms endpoint for rehearsals and tests.
    #[cfg(feature = "sandbox")]
    Sandbox(commands::sandbox::SandboxArgs),
    /// Print shell completions.
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page (roff).
    Man(commands::completions::ManArgs),
}

/// What every command gets.
pub struct Context {
    pub out: Output,
    pub global: GlobalArgs,
}

impl Context {
    /// The directory commands start from (`-C DIR` or the current directory).
    pub fn project_dir(&self) -> PathBuf {
        self.global.project.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// A multi-threaded tokio runtime for commands that talk to the network.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::error::CommandError::Runtime(e).into())
    }
}

/// Runs a parsed command line and returns the exit code. Errors are printed here: on stderr,
/// and with `--json` also as `{"error": {...}}` on stdout.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(
        cli.global.json,
        cli.global.quiet,
        cli.global.verbose,
        cli.global.color,
    );
    let ctx = Context {
        out,
        global: cli.global,
    };
    let result = match cli.command {
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => commands::demo::run(&ctx, &args),
        Command::Init(args) => commands::init::run(&ctx, &args),
        Command::Check(args) => commands::check::run(&ctx, &args),
        Command::Build(args) => commands::build::run(&ctx, &args),
        Command::Hash(args) => commands::hash::run(&ctx, &args),
        Command::Lock(args) => commands::lock::run(&ctx, &args),
        Command::Publish(args) => commands::publish::run(&ctx, &args),
        Command::Templates(args) => commands::templates::run(&ctx, &args),
        Command::Verify(args) => commands::verify::run(&ctx, &args),
        Command::Diff(args) => commands::diff::run(&ctx, &args),
        Command::Approve(args) => commands::approve::run_approve(&ctx, &args),
        Command::Revoke(args) => commands::approve::run_revoke(&ctx, &args),
        Command::Run(args) => commands::run::run(&ctx, &args),
        Command::Jobs(args) => commands::jobs::run(&ctx, &args),
        Command::Doctor(args) => commands::doctor::run(&ctx, &args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => commands::sandbox::run(&ctx, &args),
        Command::Completions(args) => commands::completions::run_completions(&ctx, &args),
        Command::Man(args) => commands::completions::run_man(&ctx, &args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            report_error(&ctx.out, &err);
            err.exit_code()
        }
    }
}

/// Prints an error the way every command does.
pub fn report_error(out: &Output, err: &Error) {
    out.error(err.to_string());
    if out.json {
        out.json(&serde_json::json!({
            "ok": false,
            "error": { "kind": err.kind(), "message": err.to_string() }
        }));
    }
}

/// The clap command, for completions and the man page.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Which template, seen through which collaboration.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The analysis template ARN.
    #[arg(long, value_name = "ARN")]
    pub template: String,
    #[command(flatten)]
    pub via: ViaArgs,
}

impl TargetArgs {
    /// The target the flags name: a well-formed template ARN, seen through the membership or
    /// the collaboration.
    pub fn target(&self) -> Result<Target> {
        template_target(&self.template, self.via.via()?)
    }
}

/// Where the bytes to check come from (exactly one).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Download each artifact from its S3 location (needs read access to the bucket).
    #[arg(long, conflicts_with_all = ["files", "source_dir", "lock"])]
    pub from_s3: bool,
    /// Keep the downloaded artifacts in DIR (with --from-s3).
    #[arg(long, value_name = "DIR", requires = "from_s3")]
    pub save: Option<PathBuf>,
    /// Files shared by the author: the entry point by name, the additional artifact by name or hash.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["source_dir", "lock"])]
    pub files: Vec<PathBuf>,
    /// Rebuild the author's project in DIR with crpack's deterministic build and compare.
    #[arg(long = "source", value_name = "DIR", conflicts_with = "lock")]
    pub source_dir: Option<PathBuf>,
    /// The author's crpack.lock: its version ids select exactly which S3 versions to download.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

impl SourceArgs {
    /// The chosen source; `--from-s3` when none is given and `default_s3` is set.
    pub fn source(&self, default_s3: bool) -> Result<Source> {
        if !self.files.is_empty() {
            Ok(Source::Files(self.files.clone()))
        } else if let Some(d) = &self.source_dir {
            Ok(Source::Project(d.clone()))
        } else if let Some(l) = &self.lock {
            Ok(Source::Lock(l.clone()))
        } else if self.from_s3 || default_s3 {
            Ok(Source::S3 {
                save: self.save.clone(),
            })
        } else {
            Err(Error::Usage(
                "say where the bytes come from: --from-s3, --files PATH..., --source DIR or --lock FILE"
                    .into(),
            ))
        }
    }
}

/// A target from a template ARN given on the command line; a malformed ARN is a usage error.
pub fn template_target(template_arn: &str, via: Via) -> Result<Target> {
    crpack_core::validate::template_arn(template_arn).map_err(Error::Usage)?;
    Ok(Target {
        template_arn: template_arn.to_string(),
        via,
    })
}
