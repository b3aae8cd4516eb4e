//! One module per subcommand.

pub mod approve;
pub mod build;
pub mod check;
pub mod completions;
pub mod demo;
pub mod doctor;
pub mod hash;
pub mod init;
pub mod jobs;
pub mod lock;
pub mod publish;
pub mod run;
pub mod run_local;
pub mod sandbox;
pub mod verify;
