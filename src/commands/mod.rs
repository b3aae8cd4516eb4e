//! One module per subcommand.

pub mod approve;
pub mod build;
pub mod check;
pub mod completions;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod diff;
pub mod doctor;
pub mod hash;
pub mod init;
pub mod jobs;
pub mod lock;
pub mod publish;
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod templates;
pub mod verify;
