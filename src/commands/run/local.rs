//! `crpack run --local`: build the artifacts, then run the entry point on local PySpark the way
//! Clean Rooms does, with the project's sample data, and preview the results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::Context;
use crate::error::{CommandError, Error, Result};
use crpack_core::artifact::Role;
use crpack_core::bundle;
use crpack_core::error::ExitCode;
use crpack_core::manifest::{Parameter, Project, SampleSource};
use crpack_runner::{self as runner, ResultSet, RunSpec, RunnerError};

/// Options of a local run.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// A parameter value, NAME=VALUE (repeatable); overrides the declared default.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// With --local: where each result is written as Parquet, one folder per result
    /// (default: out/ in the project).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --local: rows of each result to show.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub preview: usize,
}

/// The parameter values for the run: declared defaults overridden by `--param NAME=VALUE`.
/// `None` when the template declares no parameters (the service then passes no
/// `analysisParameters`).
pub fn resolve_parameters(
    declared: &[Parameter],
    given: &[String],
) -> Result<Option<BTreeMap<String, String>>> {
    let names = || {
        if declared.is_empty() {
            "none".to_string()
        } else {
            declared
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut values = BTreeMap::new();
    for raw in given {
        let (name, value) = raw
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--param {raw:?}: expected NAME=VALUE")))?;
        if !declared.iter().any(|p| p.name == name) {
            return Err(Error::Usage(format!(
                "--param {name}: the template declares no parameter {name:?} (declared: {})",
                names()
            )));
        }
        if values.insert(name.to_string(), value.to_string()).is_some() {
            return Err(Error::Usage(format!("--param {name} is given twice")));
        }
    }
    if declared.is_empty() {
        return Ok(None);
    }
    let mut missing = Vec::new();
    for p in declared {
        if !values.contains_key(&p.name) {
            match &p.default {
                Some(d) => {
                    values.insert(p.name.clone(), d.clone());
                }
                None => missing.push(p.name.as_str()),
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "parameter(s) {} have no default in crpack.toml; pass a value with {}",
            missing.join(", "),
            missing
                .iter()
                .map(|m| format!("--param {m}=VALUE"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(Some(values))
}

/// Table name → sample file for every referenced table, or an error naming the first table
/// without one and the file it expected.
pub fn resolve_samples(project: &Project) -> Result<BTreeMap<String, PathBuf>> {
    let mut tables = BTreeMap::new();
    for table in &project.template.referenced_tables {
        let path = match project.sample_source(table) {
            SampleSource::Default(p) => p,
            SampleSource::Configured(p) => {
                if !p.exists() {
                    return Err(CommandError::SampleMissing {
                        table: table.clone(),
                        shown: shown(&project.root, &p),
                    }
                    .into());
                }
                p
            }
            SampleSource::Missing(candidates) => {
                let mut candidates = candidates.into_iter();
                return Err(CommandError::NoSample {
                    table: table.clone(),
                    first: candidates.next().unwrap_or_default(),
                    second: candidates.next().unwrap_or_default(),
                }
                .into());
            }
        };
        tables.insert(table.clone(), path);
    }
    Ok(tables)
}

fn shown(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[derive(Serialize)]
struct RunJson<'a> {
    ok: bool,
    template: &'a str,
    out_dir: &'a Path,
    results: &'a [ResultSet],
    duration_ms: u64,
    warnings: &'a [String],
}

/// The local PySpark: `CRPACK_PYTHON`'s, else the one crpack provisioned, else a new one made
/// now under the cache (pyspark for the host's Python, a JDK when the machine has no Java).
pub fn local_runtime(ctx: &Context) -> Result<runner::RuntimeInfo> {
    match runner::runtime_info() {
        Ok(info) => Ok(info),
        Err(RunnerError::RuntimeMissing(why))
            if std::env::var_os(runner::PYTHON_ENV).is_none_or(|v| v.is_empty()) =>
        {
            ctx.out.debug(format!("no usable local PySpark: {why}"));
            ctx.out.info(
                "runtime     no local PySpark yet: provisioning one, once (CRPACK_PYTHON chooses your own)",
            );
            runner::provision::ensure(&mut |line| ctx.out.info(line)).map_err(CommandError::Provision)?;
            Ok(runner::runtime_info().map_err(CommandError::Runner)?)
        }
        Err(e) => Err(CommandError::Runner(e).into()),
    }
}

pub fn run_local(ctx: &Context, args: &LocalArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let parameters = resolve_parameters(&project.template.parameters, &args.params)?;
    let tables = resolve_samples(&project)?;
    let runtime = local_runtime(ctx)?;
    ctx.out.debug(format!("local runtime: {}", runtime.describe()));

    let dist = project.root.join("dist");
    ctx.out.debug(format!(
        "building {} into {}",
        project.template.name,
        dist.display()
    ));
    let built = bundle::build_with(&project, &dist, &mut crate::render::env_progress(ctx))?;
    let mut additional = built
        .artifacts
        .iter()
        .find(|a| a.role == Role::Additional)
        .map(|a| a.path.clone());
    // Native wheels for the runtime's aarch64 cannot load here: when the lock also pins wheels
    // for this host (a universal lock), run on a twin built from the same pins for this machine.
    let twin_dir = tempfile::Builder::new()
        .prefix("crpack-twin-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut twin_note = None;
    if let Some(env) = &built.environment
        && let Some(twin) = host_twin(ctx, &project, env, &runtime.python_version, twin_dir.path())?
    {
        twin_note = Some(format!(
            "running on a host twin of the environment: the same pins, with wheels for {} \
             (the published environment is for {})",
            twin.target, env.target
        ));
        additional = Some(twin_dir.path().join(&twin.file_name));
    }
    if let Some(note) = &twin_note {
        ctx.out.info(note);
    }
    let out_dir = match &args.out {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => project.root.join("out"),
    };
    let spec = RunSpec {
        entry_point: project.entry_point_path(),
        additional,
        tables,
        parameters,
        out_dir: out_dir.clone(),
        preview_rows: args.preview,
    };
    ctx.out.info(format!(
        "running {} on local Spark (pyspark {}){}",
        project.template.entry_point,
        runtime.pyspark_version,
        match &spec.additional {
            Some(a) => format!(" with {}", shown(&project.root, a)),
            None => String::new(),
        }
    ));

    let output = match runner::run(&spec) {
        Ok(o) => o,
        Err(RunnerError::Contract { code, message }) => {
            ctx.out.error(format!("{code}: {message}"));
            ctx.out.json(&serde_json::json!({
                "ok": false,
                "error": { "kind": "contract", "code": code, "message": message }
            }));
            return Ok(ExitCode::Error);
        }
        Err(RunnerError::Script { message, traceback }) => {
            ctx.out.error(format!("the entry point failed: {message}"));
            if !ctx.out.quiet {
                eprint!("{traceback}");
                if !traceback.ends_with('\n') {
                    eprintln!();
                }
            }
            ctx.out.json(&serde_json::json!({
                "ok": false,
                "error": { "kind": "script", "message": message, "traceback": traceback }
            }));
            return Ok(ExitCode::Error);
        }
        Err(e @ (RunnerError::RuntimeMissing(_) | RunnerError::Other(_))) => {
            return Err(CommandError::Runner(e).into());
        }
    };

    for w in &output.warnings {
        ctx.out.warn(w);
    }
    if ctx.out.json {
        ctx.out.json(&RunJson {
            ok: true,
            template: &project.template.name,
            out_dir: &out_dir,
            results: &output.results,
            duration_ms: output.duration_ms,
            warnings: &output.warnings,
        });
    } else {
        for (i, r) in output.results.iter().enumerate() {
            if i > 0 {
                ctx.out.line("");
            }
            print_result(ctx, &project.root, r);
        }
        ctx.out.info(format!(
            "{} result(s) written to {} in {:.1} s",
            output.results.len(),
            shown(&project.root, &out_dir),
            output.duration_ms as f64 / 1000.0
        ));
    }
    Ok(ExitCode::Success)
}

/// Builds the environment again for this host's CPU and Python from the same hash-pinned
/// requirements, when the built one holds native code for another CPU and the lock pins host
/// wheels too. `None` when no twin is needed or the lock cannot make one (the run then goes on
/// with the runtime's environment and says which packages cannot load here).
fn host_twin(
    ctx: &Context,
    project: &Project,
    env: &crpack_core::venv::EnvBuild,
    python_version: &str,
    dir: &Path,
) -> Result<Option<crpack_core::venv::EnvBuild>> {
    let Some(arch) = host_wheel_arch() else {
        return Ok(None);
    };
    if env.target.arch == arch || !env.wheels.iter().any(|w| w.native) {
        return Ok(None);
    }
    let mut parts = python_version.split('.');
    let (Some(Ok(major)), Some(Ok(minor))) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<u32>),
    ) else {
        return Ok(None);
    };
    let plan = bundle::Plan::resolve(project, Some(&project.root.join("dist")))?;
    let bundle::Additional::Venv(venv) = plan.additional else {
        return Ok(None);
    };
    let Some(reqs) = &venv.requirements else {
        return Ok(None);
    };
    let mut target = venv.target.clone();
    target.arch = arch.to_string();
    target.python = (major, minor);
    target.python_full = python_version.to_string();
    target.interpreter = format!("/usr/bin/python{major}.{minor}");
    // Only a lock that pins a file for this host can make a twin: the same versions, checked
    // against the same hashes.
    let reqs = crpack_core::venv::requirements::parse_file(&reqs.files[0], &target)
        .map_err(CommandError::Requirements)?;
    let twin_plan = crpack_core::venv::VenvPlan {
        target,
        own: venv.own.clone(),
        requirements: Some(reqs),
    };
    let dest = dir.join(crpack_core::venv::VENV_FILE_NAME);
    let stamp = bundle::Stamp::from_env()?;
    match crpack_core::venv::build::build(
        &twin_plan,
        &dest,
        stamp.epoch.max(0) as u64,
        &crpack_core::venv::build::BuildOptions::from_env(),
        &mut |_| {},
    ) {
        Ok(twin) => Ok(Some(twin)),
        Err(e) => {
            ctx.out.debug(format!("no host twin of the environment: {e}"));
            Ok(None)
        }
    }
}

/// This machine's CPU as wheel platform tags name it, when wheels exist for it.
fn host_wheel_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("x86_64"),
        "aarch64" => Some("aarch64"),
        _ => None,
    }
}

fn print_result(ctx: &Context, root: &Path, r: &ResultSet) {
    let location = shown(root, &r.path);
    crate::render::print_result_preview(
        &ctx.out,
        &crate::render::ResultPreview {
            name: &r.name,
            rows: r.rows,
            location: &location,
            columns: r.columns.iter().map(String::as_str).collect(),
            types: None,
            preview: &r.preview,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, default: Option<&str>) -> Parameter {
        Parameter {
            name: name.into(),
            default: default.map(str::to_string),
        }
    }

    fn given(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parameters_take_defaults_and_overrides() {
        let declared = [p("min_customers", Some("1")), p("label", Some("x"))];
        let v = resolve_parameters(&declared, &given(&["min_customers=3"]))
            .unwrap()
            .unwrap();
        assert_eq!(v["min_customers"], "3");
        assert_eq!(v["label"], "x");
        // Values may contain `=` and be empty.
        let v = resolve_parameters(&declared, &given(&["label=a=b", "min_customers="]))
            .unwrap()
            .unwrap();
        assert_eq!((v["label"].as_str(), v["min_customers"].as_str()), ("a=b", ""));
        assert_eq!(resolve_parameters(&[], &[]).unwrap(), None);
    }

    #[test]
    fn bad_parameters_are_usage_errors() {
        let declared = [p("min_customers", Some("1")), p("region", None)];
        let err = resolve_parameters(&declared, &given(&["nope=1", "region=eu"])).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Usage);
        let msg = err.to_string();
        assert!(
            msg.contains("\"nope\"") && msg.contains("min_customers, region"),
            "{msg}"
        );
        let msg = resolve_parameters(&declared, &[]).unwrap_err().to_string();
        assert!(
            msg.contains("region") && msg.contains("--param region=VALUE"),
            "{msg}"
        );
        let msg = resolve_parameters(&declared, &given(&["region"]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("NAME=VALUE"), "{msg}");
        let msg = resolve_parameters(&declared, &given(&["region=a", "region=b"]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("twice"), "{msg}");
        let msg = resolve_parameters(&[], &given(&["x=1"])).unwrap_err().to_string();
        assert!(msg.contains("declared: none"), "{msg}");
    }
}
