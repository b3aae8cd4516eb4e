//! One module per subcommand.

pub mod approve;
pub mod build;
pub mod check;
pub mod completions;
pub mod demo;
pub mod hash;
pub mod init;
pub mod publish;
pub mod sandbox;
pub mod verify;
