//! `crpack sandbox`: serve the local S3 + Clean Rooms endpoint until Ctrl-C, SIGTERM or SIGHUP;
//! each stops it the same way, removing its temporary state.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::Context;
use crate::error::{CommandError, Error, Result};
use crpack_core::error::ExitCode;
use crpack_core::fsutil;
use crpack_sandbox::{self as sandbox, Sandbox, SandboxOptions, identity};

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4566", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Keep state under DIR so a restart keeps it (default: in memory, gone at exit).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Create a ready world: a SPARK collaboration, both memberships, a versioned artifact
    /// bucket, the provider's configured tables with CUSTOM rules and associations.
    #[arg(long)]
    pub seed: bool,
    /// Write the seeded ids, endpoint and credentials as JSON to FILE.
    #[arg(long, value_name = "FILE", requires = "seed")]
    pub seed_out: Option<PathBuf>,
}

fn env_lines(endpoint: &str, who: &identity::Identity) -> Vec<String> {
    vec![
        format!("export AWS_ENDPOINT_URL={endpoint}"),
        format!("export AWS_REGION={}", sandbox::REGION),
        format!("export AWS_ACCESS_KEY_ID={}", who.access_key_id),
        format!("export AWS_SECRET_ACCESS_KEY={}", who.secret_access_key),
    ]
}

pub fn run(ctx: &Context, args: &SandboxArgs) -> Result<ExitCode> {
    let rt = ctx.runtime()?;
    rt.block_on(async {
        // Listening before the sandbox exists: a stop request that arrives while it starts is
        // honoured once it has started, not answered by the default action (dying uncleaned).
        let mut stop = StopSignals::install()?;
        let sb = Sandbox::start(SandboxOptions {
            listen: args.listen,
            data_dir: args.data.clone(),
        })
        .await
        .map_err(|source| CommandError::SandboxListen {
            listen: args.listen,
            source,
        })?;
        let endpoint = sb.endpoint();
        let seed = if args.seed {
            let info = sandbox::seed::seed(&endpoint)
                .await
                .map_err(CommandError::SandboxSeed)?;
            if let Some(path) = &args.seed_out {
                let json = serde_json::to_vec_pretty(&info).map_err(CommandError::SeedRecord)?;
                fsutil::write_atomic(path, &json).map_err(|e| Error::io(path, e))?;
            }
            Some(info)
        } else {
            None
        };
        if ctx.out.json {
            ctx.out.json(&serde_json::json!({
                "ok": true,
                "endpoint": endpoint,
                "region": sandbox::REGION,
                "identities": identity::ALL.iter().map(|i| serde_json::json!({
                    "name": i.name,
                    "account_id": i.account_id,
                    "access_key_id": i.access_key_id,
                    "secret_access_key": i.secret_access_key,
                })).collect::<Vec<_>>(),
                "seed": seed,
            }));
        } else {
            ctx.out.line(format!(
                "sandbox listening on {endpoint} (S3 and Clean Rooms, region {})",
                sandbox::REGION
            ));
            if let Some(dir) = &args.data {
                ctx.out.line(format!("state kept in {}", dir.display()));
            }
            for who in identity::ALL {
                ctx.out.line(String::new());
                ctx.out
                    .line(format!("# as the {} (account {})", who.name, who.account_id));
                for l in env_lines(&endpoint, &who) {
                    ctx.out.line(l);
                }
            }
            if let Some(info) = &seed {
                ctx.out.line(String::new());
                ctx.out.line(format!(
                    "seeded collaboration {} ({})",
                    info.collaboration_id, info.collaboration_arn
                ));
                ctx.out
                    .line(format!("  author membership    {}", info.author.membership_id));
                ctx.out
                    .line(format!("  provider membership  {}", info.provider.membership_id));
                ctx.out.line(format!(
                    "  artifact bucket      {} (versioning Enabled)",
                    info.bucket
                ));
                ctx.out.line(format!("  role ARN             {}", info.role_arn));
                for t in &info.tables {
                    ctx.out.line(format!(
                        "  table {:<14} configured table {}",
                        t.name, t.configured_table_id
                    ));
                }
                if let Some(path) = &args.seed_out {
                    ctx.out.line(format!("  written to           {}", path.display()));
                }
            }
            ctx.out.info("press Ctrl-C to stop");
        }
        let why = stop.wait().await;
        ctx.out.info(format!("stopping the sandbox ({why})"));
        sb.stop().await;
        Ok(ExitCode::Success)
    })
}

/// The signals that stop the sandbox cleanly.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers (inside the runtime).
    fn install() -> Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &'static str| {
                signal(kind).map_err(move |source| Error::from(CommandError::Signal { name, source }))
            };
            Ok(StopSignals {
                interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
                terminate: listen(SignalKind::terminate(), "SIGTERM")?,
                hangup: listen(SignalKind::hangup(), "SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the first stop request; returns its name.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "Ctrl-C",
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.hangup.recv() => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                // Nothing can ask this process to stop cleanly: serve until it is killed.
                Err(_) => std::future::pending().await,
            }
        }
    }
}
