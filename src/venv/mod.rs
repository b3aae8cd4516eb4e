//! The additional artifact as a virtual environment: a byte-reproducible venv-pack style
//! `.tar.gz` for the runtime's Linux ARM64 / CPython 3.11, built on any host from a hash-pinned
//! requirements file and the project's own modules. Nothing is compiled and no interpreter of the
//! target is needed: wheels are downloaded for the target, checked against their pinned hashes,
//! and installed by crpack itself.

pub mod emulate;
pub mod fetch;
pub mod requirements;
pub mod target;
pub mod targz;
pub mod unpack;
pub mod wheel;
