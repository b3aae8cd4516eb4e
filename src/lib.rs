//! crpack: bundle, hash, publish, verify and approve AWS Clean Rooms PySpark analysis templates.
//!
//! The binary is a thin shell over this library: [`cli::run`] does the work and returns an exit
//! code. One module per subcommand lives in [`commands`]; the domain types (digest, artifact,
//! manifest, bundle, diagnostics) have their own modules. The [`sandbox`] is a local S3 and
//! Clean Rooms endpoint; the author and reviewer paths never import it, they only see endpoints.

pub mod artifact;
pub mod aws;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod diagnostic;
pub mod digest;
pub mod error;
pub mod explain;
pub mod fsutil;
pub mod jobs;
pub mod lock;
pub mod manifest;
pub mod output;
pub mod platform;
pub mod publish;
pub mod pycheck;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod validate;
pub mod venv;
pub mod verify;
