//! The additional artifact as a virtual environment: a byte-reproducible venv-pack style
//! `.tar.gz` for the runtime's Linux ARM64 / CPython 3.11, built on any host from a hash-pinned
//! requirements file and the project's own modules. Nothing is compiled and no interpreter of the
//! target is needed: wheels are downloaded for the target, checked against their pinned hashes,
//! and installed by crpack itself.

pub mod build;
pub mod emulate;
pub mod fetch;
pub mod requirements;
pub mod target;
pub mod targz;
pub mod unpack;
pub mod wheel;

#[cfg(test)]
mod test_support {
    use std::path::Path;

    /// The names in `dir`, sorted.
    pub(super) fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

use std::io;
use std::path::{Path, PathBuf};

pub use build::{EnvBuild, EnvEvent, VENV_FILE_NAME, VenvPlan, WheelRecord};
pub use target::Target;

/// Why an environment cannot be built. Each message names what is wrong and the fix.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(transparent)]
    Requirements(#[from] requirements::RequirementsError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Wheel(#[from] wheel::WheelError),
    #[error(
        "{path} would be installed twice: by {first} and by {second}; rename your module or drop one of the \
         requirements"
    )]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("writing {entry} into the environment failed: {source}")]
    Write { entry: String, source: io::Error },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl EnvError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        EnvError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
