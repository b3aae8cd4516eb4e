//! One module per subcommand.

pub mod build;
pub mod check;
pub mod completions;
pub mod hash;
pub mod init;
pub mod sandbox;
