//! `crpack run`: run an approved template as a protected job and watch it to the end, or
//! `crpack run --local` to run the entry point on local PySpark.

pub mod local;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use crate::cli::{AwsArgs, Context};
use crate::error::{CommandError, Error, Result};
use crate::output::escape;
use crate::render::print_job;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::jobs::{self, JobReport, WorkerType};
use crpack_core::verify::{self, Target, Via};
use local::LocalArgs;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run the project's entry point on this machine with local PySpark instead.
    #[arg(long, conflicts_with_all = ["template", "membership", "no_wait"])]
    pub local: bool,
    /// The analysis template ARN to run.
    #[arg(long, value_name = "ARN", required_unless_present = "local")]
    pub template: Option<String>,
    /// Your membership (it must have CAN_RUN_JOB).
    #[arg(long, value_name = "ID", required_unless_present = "local")]
    pub membership: Option<String>,
    /// Worker type (with --workers).
    #[arg(long, value_parser = worker_type_parser(), value_name = "TYPE", requires = "workers")]
    pub worker_type: Option<WorkerType>,
    /// Number of workers, 4–1024 (the user guide's table lists up to 128 CR.1X or 32 CR.4X).
    #[arg(long, value_name = "N")]
    pub workers: Option<i32>,
    /// A Spark property for the job's workers (repeatable; with --workers; at most 50, key 1–200
    /// characters, value at most 500).
    #[arg(long = "spark-property", value_name = "KEY=VALUE", requires = "workers")]
    pub spark_properties: Vec<String>,
    /// The account that pays for the job's compute (an active member; default: yours).
    #[arg(long, value_name = "ACCOUNT")]
    pub payer: Option<String>,
    /// Start the job and print its id without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// On Ctrl-C, cancel the job without asking.
    #[arg(long)]
    pub cancel_on_interrupt: bool,
    #[command(flatten)]
    pub opts: LocalArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The exit code a finished job maps to: 0 on SUCCESS, 3 otherwise.
pub fn job_exit(j: &JobReport) -> ExitCode {
    if j.status == "SUCCESS" {
        ExitCode::Success
    } else {
        ExitCode::Error
    }
}

fn ask_to_cancel(job_id: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("cancel job {job_id}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim().eq_ignore_ascii_case("y")
}

/// Watches a job until it ends, with a live status line; handles Ctrl-C.
pub async fn watch(
    ctx: &Context,
    aws: &Aws,
    membership: &str,
    job_id: &str,
    cancel_on_interrupt: bool,
) -> Result<JobReport> {
    let started = Instant::now();
    let spinner = if ctx.out.show_progress() {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut last_status = String::new();
    let mut cancelling = false;
    let mut attempt = 0;
    loop {
        let j = jobs::get(aws, membership, job_id).await?;
        if j.status != last_status {
            if !ctx.out.show_progress() {
                ctx.out
                    .info(format!("job {}: {}", escape(job_id), escape(&j.status)));
            }
            last_status = j.status.clone();
        }
        spinner.set_message(format!(
            "job {}: {} ({:.0} s)",
            escape(job_id),
            escape(&j.status),
            started.elapsed().as_secs_f64()
        ));
        if j.is_terminal() {
            spinner.finish_and_clear();
            return Ok(j);
        }
        tokio::select! {
            _ = tokio::time::sleep(jobs::poll_interval(attempt)) => {}
            _ = tokio::signal::ctrl_c(), if !cancelling => {
                spinner.suspend(|| ());
                let cancel = cancel_on_interrupt
                    || tokio::task::spawn_blocking({
                        let id = job_id.to_string();
                        move || ask_to_cancel(&id)
                    })
                    .await
                    .unwrap_or(false);
                if cancel {
                    jobs::cancel(aws, membership, job_id).await?;
                    ctx.out.info(format!("cancelling job {job_id}"));
                    cancelling = true;
                } else {
                    spinner.finish_and_clear();
                    return Err(CommandError::StoppedWatching {
                        job_id: job_id.to_string(),
                    }
                    .into());
                }
            }
        }
        attempt += 1;
    }
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<ExitCode> {
    if args.local {
        return local::run_local(ctx, &args.opts);
    }
    let (template, membership) = match (&args.template, &args.membership) {
        (Some(t), Some(m)) => (t.clone(), m.clone()),
        _ => {
            return Err(Error::Usage(
                "pass --template ARN and --membership ID (or --local)".into(),
            ));
        }
    };
    crpack_core::validate::template_arn(&template).map_err(Error::Usage)?;
    let params = parse_params(&args.opts.params)?;
    let spark_properties = parse_spark_properties(&args.spark_properties)?;
    if let Some(p) = &args.payer
        && !(p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Error::Usage(format!(
            "--payer {p:?}: an AWS account id is 12 digits"
        )));
    }
    let workers = match (args.worker_type, args.workers) {
        (None, None) => None,
        (kind, Some(n)) => {
            let kind = kind.unwrap_or(WorkerType::Cr1X);
            let (lo, hi) = kind.range();
            if !(lo..=hi).contains(&n) {
                return Err(Error::Usage(format!(
                    "--workers {n}: a PySpark job takes {lo} to {hi} workers"
                )));
            }
            if n > kind.guide_max() {
                ctx.out.warn(format!(
                    "--workers {n}: the user guide's table lists at most {} {} workers for PySpark jobs; \
                     the service model allows {hi}, so the service decides (and bills every worker)",
                    kind.guide_max(),
                    kind.as_str()
                ));
            }
            Some((kind, n))
        }
        (Some(_), None) => return Err(Error::Usage("--worker-type needs --workers N".into())),
    };
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        // Check the parameters against the template before starting anything.
        let reviewed = verify::review(
            &aws,
            &Target {
                template_arn: template.clone(),
                via: Via::Membership(membership.clone()),
            },
        )
        .await?;
        let declared: Vec<String> = reviewed
            .summary
            .parameters
            .iter()
            .map(|p| p.name.clone())
            .collect();
        check_params(&params, &declared)?;
        let opts = jobs::StartOptions {
            params,
            workers,
            spark_properties,
            payer: args.payer.clone(),
        };
        let id = jobs::start(&aws, &membership, &template, opts).await?;
        if args.no_wait {
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"ok": true, "job_id": id, "membership_id": membership}));
            } else {
                let id = escape(&id);
                ctx.out.line(format!(
                    "started job {id}; follow it with `crpack jobs show {id} --membership {membership}`"
                ));
            }
            return Ok(ExitCode::Success);
        }
        ctx.out.info(format!("started job {}", escape(&id)));
        let job = watch(ctx, &aws, &membership, &id, args.cancel_on_interrupt).await?;
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"ok": job.status == "SUCCESS", "job": job}));
        } else {
            print_job(&ctx.out, &job);
        }
        Ok(job_exit(&job))
    })
}

/// Parses `--param NAME=VALUE` pairs, within the service's limits for job parameters: a name
/// of 1–100 of `[0-9a-zA-Z_]`, a value of at most 1,000 characters.
pub fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let out = key_values("--param", "NAME=VALUE", raw)?;
    for (k, v) in &out {
        if k.is_empty() || k.len() > 100 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Usage(format!(
                "--param {k:?}: a job parameter's name is 1–100 letters, digits or underscores"
            )));
        }
        if v.chars().count() > 1000 {
            return Err(Error::Usage(format!(
                "--param {k}: the value has {} characters; a job parameter's value has at most 1000",
                v.chars().count()
            )));
        }
    }
    Ok(out)
}

/// Parses `--spark-property KEY=VALUE` pairs within the service's limits: at most 50, a key of
/// 1–200 characters, a value of at most 500.
pub fn parse_spark_properties(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let out = key_values("--spark-property", "KEY=VALUE", raw)?;
    if out.len() > 50 {
        return Err(Error::Usage(format!(
            "{} --spark-property values: a job takes at most 50",
            out.len()
        )));
    }
    for (k, v) in &out {
        if k.is_empty() || k.chars().count() > 200 {
            return Err(Error::Usage(format!(
                "--spark-property {k:?}: a Spark property's key has 1–200 characters"
            )));
        }
        if v.chars().count() > 500 {
            return Err(Error::Usage(format!(
                "--spark-property {k}: the value has {} characters; a Spark property's value has at most 500",
                v.chars().count()
            )));
        }
    }
    Ok(out)
}

/// `KEY=VALUE` pairs of `flag`, each key once.
fn key_values(flag: &str, shape: &str, raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in raw {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("{flag} {p:?}: expected {shape}")))?;
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::Usage(format!("{flag} {k} is given twice")));
        }
    }
    Ok(out)
}

/// Checks the `--param` names against the ones the template declares: a name it does not
/// declare is a usage error, caught before anything starts.
pub fn check_params(given: &BTreeMap<String, String>, declared: &[String]) -> Result<()> {
    for name in given.keys() {
        if !declared.contains(name) {
            return Err(Error::Usage(format!(
                "the template declares no parameter {name:?} (declared: {})",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// `--worker-type`: the service's names, with the size of each.
fn worker_type_parser() -> impl clap::builder::TypedValueParser<Value = WorkerType> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new(WorkerType::Cr1X.as_str()).help("4 vCPU, 30 GB (the default)"),
        PossibleValue::new(WorkerType::Cr4X.as_str()).help("16 vCPU, 120 GB"),
    ])
    .map(|name| {
        WorkerType::ALL
            .into_iter()
            .find(|w| w.as_str() == name)
            .unwrap_or(WorkerType::Cr1X)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn params_parse_and_check_as_usage_errors() {
        let p = parse_params(&given(&["a=1", "b=x=y"])).unwrap();
        assert_eq!(p["b"], "x=y");
        for bad in [given(&["novalue"]), given(&["a=1", "a=2"])] {
            let e = parse_params(&bad).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::Usage, "{e}");
        }
        check_params(&p, &["a".into(), "b".into()]).unwrap();
        let e = check_params(&p, &["a".into()]).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert_eq!(
            e.to_string(),
            "the template declares no parameter \"b\" (declared: a)"
        );
    }

    #[test]
    fn spark_properties_within_the_service_limits() {
        let ok: Vec<String> = (0..50).map(|i| format!("spark.k{i}=v")).collect();
        assert_eq!(parse_spark_properties(&ok).unwrap().len(), 50);
        let too_many: Vec<String> = (0..51).map(|i| format!("spark.k{i}=v")).collect();
        for bad in [
            too_many,
            vec!["=v".to_string()],
            vec![format!("{}=v", "k".repeat(201))],
            vec![format!("k={}", "v".repeat(501))],
            vec!["k=1".to_string(), "k=2".to_string()],
            vec!["novalue".to_string()],
        ] {
            let e = parse_spark_properties(&bad).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::Usage, "{e}");
        }
        assert_eq!(parse_spark_properties(&["k=".to_string()]).unwrap()["k"], "");
    }
}
