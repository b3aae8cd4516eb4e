//! crpack's domain: everything about a Clean Rooms PySpark analysis template except the command
//! line. The project ([`manifest`]), its build ([`bundle`], [`venv`]), digests ([`digest`]), the
//! lock ([`lock`]), publishing ([`publish`]), verification ([`verify`], [`explain`]) and static
//! checks ([`check`], [`pycheck`]).
//!
//! Nothing here parses flags or prints: functions take plain option types and report progress
//! and findings through [`progress::Reporter`] and the types they return.

pub mod archive;
pub mod artifact;
pub mod aws;
pub mod bundle;
pub mod check;
pub mod diagnostic;
pub mod digest;
pub mod error;
pub mod explain;
pub mod fsutil;
pub mod jobs;
pub mod lock;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod publish;
pub mod pycheck;
pub mod report;
pub mod review;
#[cfg(test)]
mod testing;
pub mod text;
pub mod validate;
pub mod venv;
pub mod verify;
