//! The integration tests, one binary: each module drives the real `crpack` binary or the
//! sandbox's endpoints; `common` holds what they share.

mod common;

mod cli_desk;
mod cli_files;
mod cli_jobs;
mod cli_local_run;
mod cli_messages;
mod cli_offline;
mod cli_publish;
mod cli_publish_races;
mod cli_receivers;
mod cli_results;
mod cli_review;
mod cli_runtime;
mod cli_sandbox;
mod cli_venv;
mod sandbox_boto3;
mod sandbox_cleanrooms;
mod sandbox_jobs;
mod sandbox_s3;
mod sandbox_unassociated;
mod snapshots_offline;
mod snapshots_sandbox;
mod tamper_props;
