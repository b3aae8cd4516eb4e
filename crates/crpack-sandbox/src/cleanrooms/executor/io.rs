//! What a job reads from and writes to S3: the pinned artifacts, the tables' data, and the
//! results (or the simulation marker).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crpack_runner as runner;
use sha2::{Digest, Sha256};

use super::{Failure, Plan, SIMULATED_MARKER, TablePlan, codes, failure, glue_location};
use crate::cleanrooms::artifacts::{describe, role_account, s3_as, status};
use crate::identity;

fn file_name(key: &str) -> String {
    key.rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("artifact")
        .to_string()
}

/// Reads each pinned version as the template role's account, checks its SHA-256 and saves it;
/// returns the entry point's path and the additional artifact's.
pub(super) async fn fetch_artifacts(plan: &Plan, dir: &Path) -> Result<(PathBuf, Option<PathBuf>), Failure> {
    let fail = |m: String| failure(codes::ARTIFACT_VERIFICATION_FAILED, m);
    let account = role_account(&plan.role_arn).unwrap_or_default();
    let who = identity::by_account(account).ok_or_else(|| {
        fail(format!(
            "Clean Rooms cannot assume role {} to read the artifacts: account {account} is not a sandbox identity",
            plan.role_arn
        ))
    })?;
    let client = s3_as(&plan.s3_endpoint, who);
    let mut entry_point = None;
    let mut additional = None;
    if plan.pinned.is_empty() {
        return Err(fail(format!(
            "analysis template {} pins no artifacts",
            plan.template_arn
        )));
    }
    for (i, a) in plan.pinned.iter().enumerate() {
        let what = format!("s3://{}/{} (version {})", a.bucket, a.key, a.version_id);
        let object = client
            .get_object()
            .bucket(&a.bucket)
            .key(&a.key)
            .version_id(&a.version_id)
            .send()
            .await
            .map_err(|e| match status(&e) {
                Some(404) => fail(format!(
                    "the artifact {what} no longer exists: the template is pinned to that version ({})",
                    describe(&e)
                )),
                Some(403) => fail(format!(
                    "role {} cannot read the artifact {what}: access denied",
                    plan.role_arn
                )),
                _ => fail(format!("could not read the artifact {what}: {}", describe(&e))),
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("could not read the artifact {what}: {e}")))?
            .into_bytes();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sha256 != a.sha256 {
            return Err(fail(format!(
                "the artifact {what} no longer matches the template: its SHA-256 is {sha256}, the template recorded {}",
                a.sha256
            )));
        }
        let sub = dir.join(if a.entry_point {
            "entry".to_string()
        } else {
            format!("additional-{i}")
        });
        std::fs::create_dir_all(&sub)
            .map_err(|e| failure(codes::INTERNAL_ERROR, format!("could not save {what}: {e}")))?;
        let path = sub.join(file_name(&a.key));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| failure(codes::INTERNAL_ERROR, format!("could not save {what}: {e}")))?;
        if a.entry_point {
            entry_point = Some(path);
        } else if additional.is_none() {
            additional = Some(path);
        }
    }
    let entry_point = entry_point.ok_or_else(|| {
        fail(format!(
            "analysis template {} pins no entry point",
            plan.template_arn
        ))
    })?;
    Ok((entry_point, additional))
}

/// Reads each table's sample data (Glue emulation) as the table owner's account.
pub(super) async fn fetch_tables(
    plan: &Plan,
    tables: &[TablePlan],
    dir: &Path,
) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let fail = |m: String| failure(codes::TABLE_DATA_NOT_FOUND, m);
    let tables_dir = dir.join("tables");
    std::fs::create_dir_all(&tables_dir).map_err(|e| {
        failure(
            codes::INTERNAL_ERROR,
            format!("could not create a work directory: {e}"),
        )
    })?;
    let mut files = BTreeMap::new();
    for t in tables {
        let Some((database, table)) = &t.glue else {
            return Err(fail(format!(
                "table {}: the sandbox only reads Glue tables (from s3://crpack-sandbox-glue-<owner account>/<databaseName>/<tableName>.csv)",
                t.name
            )));
        };
        let (bucket, key) = glue_location(&t.owner_account, database, table);
        let location = format!("s3://{bucket}/{key}");
        let who = identity::by_account(&t.owner_account).ok_or_else(|| {
            fail(format!(
                "table {}: its owner {} is not a sandbox identity",
                t.name, t.owner_account
            ))
        })?;
        let object = s3_as(&plan.s3_endpoint, who)
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "table {}: no data for Glue table {database}.{table} at {location} (the sandbox reads a Glue table's data from that CSV object in the owner's account): {}",
                    t.name,
                    describe(&e)
                ))
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("table {}: could not read {location}: {e}", t.name)))?
            .into_bytes();
        let path = tables_dir.join(format!("{}.csv", t.name));
        tokio::fs::write(&path, &bytes).await.map_err(|e| {
            failure(
                codes::INTERNAL_ERROR,
                format!("could not save table {}: {e}", t.name),
            )
        })?;
        files.insert(t.name.clone(), path);
    }
    Ok(files)
}

fn writer(plan: &Plan) -> Result<aws_sdk_s3::Client, Failure> {
    let who = identity::by_account(&plan.writer_account).ok_or_else(|| {
        failure(
            codes::RESULT_WRITE_FAILED,
            format!(
                "account {} (of the result role) is not a sandbox identity",
                plan.writer_account
            ),
        )
    })?;
    Ok(s3_as(&plan.s3_endpoint, who))
}

async fn put(client: &aws_sdk_s3::Client, plan: &Plan, key: &str, body: Vec<u8>) -> Result<(), Failure> {
    client
        .put_object()
        .bucket(&plan.output_bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .map_err(|e| {
            failure(
                codes::RESULT_WRITE_FAILED,
                format!(
                    "could not write s3://{}/{key} as account {}: {}",
                    plan.output_bucket,
                    plan.writer_account,
                    describe(&e)
                ),
            )
        })?;
    Ok(())
}

/// The simulated run: the `_SIMULATED` marker and one line on stderr.
pub(super) async fn simulate(plan: &Plan, reason: &str, tables: &[TablePlan]) -> Result<(), Failure> {
    let key = format!("{}/{SIMULATED_MARKER}", plan.output_prefix);
    let artifacts: Vec<String> = plan
        .pinned
        .iter()
        .map(|a| {
            format!(
                "  s3://{}/{} version {} sha256 {}",
                a.bucket, a.key, a.version_id, a.sha256
            )
        })
        .collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let body = format!(
        "This protected job was simulated: no PySpark runtime was found, so the entry point did not run and no results were written.\n\
         Reason: {reason}\n\
         Job: {}\n\
         Analysis template: {}\n\
         Verified artifacts:\n{}\n\
         Tables read: {}\n",
        plan.job_id,
        plan.template_arn,
        artifacts.join("\n"),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    put(&writer(plan)?, plan, &key, body.into_bytes()).await?;
    eprintln!(
        "crpack sandbox: protected job {} simulated (no PySpark runtime: {reason}); wrote s3://{}/{key}",
        plan.job_id, plan.output_bucket
    );
    Ok(())
}

/// Uploads each result's Parquet files to `<prefix>/<result>/part-*.parquet`.
pub(super) async fn upload_results(plan: &Plan, results: &[runner::ResultSet]) -> Result<(), Failure> {
    let client = writer(plan)?;
    for result in results {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&result.path)
            .map_err(|e| {
                failure(
                    codes::INTERNAL_ERROR,
                    format!(
                        "could not read the result {} at {}: {e}",
                        result.name,
                        result.path.display()
                    ),
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|x| x == "parquet")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
            })
            .collect();
        files.sort();
        for (i, path) in files.iter().enumerate() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.starts_with("part-"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("part-{i:05}.parquet"));
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                failure(
                    codes::INTERNAL_ERROR,
                    format!("could not read {}: {e}", path.display()),
                )
            })?;
            let key = format!("{}/{}/{name}", plan.output_prefix, result.name);
            put(&client, plan, &key, bytes).await?;
        }
    }
    Ok(())
}
