//! Building the environment: the venv skeleton, the project's own modules and the pinned
//! wheels, laid out as `venv-pack` packs a `python3.11 -m venv` made on the runtime, written as
//! one byte-reproducible `.tar.gz`.
//!
//! Two passes keep memory flat whatever the environment's size: planning reads only the
//! wheels' central directories and dist-info files and sorts every entry by path; writing then
//! streams each file once from its wheel (checked against the wheel's RECORD as it passes) or
//! from the project, through the tar writer and the parallel gzip writer, hashing the output
//! as it is written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::EnvError;
use super::fetch::{self, FetchEvent, FetchOptions, FetchedWheel, WheelCache};
use super::requirements::Requirements;
use super::target::Target;
use super::targz::{self, TargzError};
use super::wheel::{Content, Wheel};
use crate::bundle::BundleFile;
use crate::digest::{BUFFER_SIZE, Hasher, Sha256Digest};

/// The built environment's file name in the output directory (and its S3 key's last segment).
pub const VENV_FILE_NAME: &str = "pyspark_venv.tar.gz";

/// What the environment is made of, before any byte is written.
#[derive(Debug, Clone)]
pub struct VenvPlan {
    pub target: Target,
    /// The project's own files, with entry paths relative to site-packages.
    pub own: Vec<BundleFile>,
    /// The parsed requirements, when the project has a requirements file.
    pub requirements: Option<Requirements>,
}

/// Progress of an environment build, for the CLI to render.
#[derive(Debug, Clone)]
pub enum EnvEvent {
    /// A wheel step: from the cache, or downloaded.
    Fetch(FetchEvent),
    /// Planning is done: this many entries will be written.
    Planned { entries: usize, bytes: u64 },
    /// Bytes of installed files written so far (uncompressed).
    Written { bytes: u64, total: u64 },
}

/// One installed distribution, as the build record and the lock list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WheelRecord {
    /// The project name as the wheel's METADATA spells it.
    pub name: String,
    pub version: String,
    /// The wheel file that was installed.
    pub file_name: String,
    pub sha256: Sha256Digest,
    /// Where it was downloaded from (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether it holds native code.
    pub native: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Bytes it installs (uncompressed).
    pub installed_bytes: u64,
    /// Top-level importable modules it installs.
    pub modules: Vec<String>,
}

/// What was built.
#[derive(Debug, Clone, Serialize)]
pub struct EnvBuild {
    pub file_name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub target: Target,
    pub wheels: Vec<WheelRecord>,
    /// Top-level modules of the project's own files.
    pub own_modules: Vec<String>,
    /// Files, directories and links in the archive.
    pub entries: usize,
}

/// Where one archive entry comes from.
#[derive(Debug)]
enum Node {
    Dir,
    Symlink(String),
    File {
        executable: bool,
        size: u64,
        source: Source,
        /// Who installs it, for conflict messages.
        owner: Owner,
    },
}

#[derive(Debug)]
enum Source {
    Own(PathBuf),
    Wheel {
        wheel: usize,
        index: usize,
        sha256: Sha256Digest,
    },
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Venv,
    Project(String),
    Wheel(String),
}

impl Owner {
    fn describe(&self) -> String {
        match self {
            Owner::Venv => "the virtual environment itself".to_string(),
            Owner::Project(p) => format!("your file {p}"),
            Owner::Wheel(w) => format!("the wheel {w}"),
        }
    }
}

/// Every entry of the archive, sorted by path bytes.
#[derive(Default)]
struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    fn add_dirs(&mut self, path: &str) -> Result<(), EnvError> {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let dir = &path[..end + i];
            match self.nodes.get(dir) {
                None => {
                    self.nodes.insert(dir.to_string(), Node::Dir);
                }
                Some(Node::Dir) => {}
                Some(Node::File { owner, .. }) => {
                    return Err(EnvError::Conflict {
                        path: path.to_string(),
                        first: format!("{} (a file at {dir})", owner.describe()),
                        second: "a directory entry".to_string(),
                    });
                }
                Some(Node::Symlink(_)) => {
                    return Err(EnvError::Conflict {
                        path: path.to_string(),
                        first: format!("the link {dir}"),
                        second: "a directory entry".to_string(),
                    });
                }
            }
            end += i + 1;
        }
        Ok(())
    }

    fn add(&mut self, path: String, node: Node) -> Result<(), EnvError> {
        self.add_dirs(&path)?;
        if let Some(existing) = self.nodes.get(&path) {
            let first = match existing {
                Node::File { owner, .. } => owner.describe(),
                Node::Dir => "a directory".to_string(),
                Node::Symlink(_) => "a link of the environment".to_string(),
            };
            let second = match &node {
                Node::File { owner, .. } => owner.describe(),
                Node::Dir => "a directory".to_string(),
                Node::Symlink(_) => "a link of the environment".to_string(),
            };
            return Err(EnvError::Conflict { path, first, second });
        }
        self.nodes.insert(path, node);
        Ok(())
    }
}

/// The text of `pyvenv.cfg` a `python3.11 -m venv` on the runtime writes, less the build path.
pub fn pyvenv_cfg(target: &Target) -> String {
    let home = Path::new(&target.interpreter)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/usr/bin".to_string());
    format!(
        "home = {home}\ninclude-system-site-packages = false\nversion = {}\nexecutable = {}\n",
        target.python_full, target.interpreter
    )
}

/// A relocatable `bin/activate` for people who unpack the archive (Spark does not use it).
fn activate_script() -> &'static str {
    "# Source this file from sh, bash or zsh: . bin/activate\n\
     # It finds the environment from its own location, so the unpacked archive can live anywhere.\n\
     if [ -n \"${BASH_SOURCE:-}\" ]; then _crpack_here=\"${BASH_SOURCE[0]}\"; else _crpack_here=\"$0\"; fi\n\
     VIRTUAL_ENV=\"$(cd \"$(dirname \"$_crpack_here\")/..\" && pwd)\"\n\
     export VIRTUAL_ENV\n\
     _CRPACK_OLD_PATH=\"$PATH\"\n\
     PATH=\"$VIRTUAL_ENV/bin:$PATH\"\n\
     export PATH\n\
     unset _crpack_here\n\
     deactivate () {\n\
     \x20   PATH=\"$_CRPACK_OLD_PATH\"\n\
     \x20   export PATH\n\
     \x20   unset VIRTUAL_ENV _CRPACK_OLD_PATH\n\
     \x20   unset -f deactivate\n\
     }\n"
}

fn add_skeleton(tree: &mut Tree, target: &Target) -> Result<(), EnvError> {
    let exe = target.python_exe();
    let major = format!("python{}", target.python.0);
    let bytes = |s: String| Node::File {
        executable: false,
        size: s.len() as u64,
        source: Source::Bytes(s.into_bytes()),
        owner: Owner::Venv,
    };
    tree.add("pyvenv.cfg".into(), bytes(pyvenv_cfg(target)))?;
    tree.add("bin/activate".into(), bytes(activate_script().to_string()))?;
    tree.add("bin/python".into(), Node::Symlink(major.clone()))?;
    tree.add(format!("bin/{major}"), Node::Symlink(exe.clone()))?;
    tree.add(format!("bin/{exe}"), Node::Symlink(target.interpreter.clone()))?;
    tree.add("lib64".into(), Node::Symlink("lib".into()))?;
    tree.add(target.site_packages(), Node::Dir)?;
    Ok(())
}

/// The top-level module a site-packages relative path belongs to (`pkg/x.py` → `pkg`,
/// `mod.py` → `mod`, `_ext.cpython-311-aarch64-linux-gnu.so` → `_ext`); `None` for metadata
/// and data files.
pub fn top_level_module(rel: &str) -> Option<String> {
    let (first, rest) = match rel.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (rel, None),
    };
    if first.ends_with(".dist-info") || first.ends_with(".data") || first == "__pycache__" {
        return None;
    }
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    match rest {
        Some(_) => valid(first).then(|| first.to_string()),
        None => {
            let stem = first.strip_suffix(".py").or_else(|| {
                first
                    .strip_suffix(".so")
                    .map(|s| s.split('.').next().unwrap_or(s))
            })?;
            valid(stem).then(|| stem.to_string())
        }
    }
}

/// Writes the hashed, counted bytes through to `inner`.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the bytes read through it, for progress.
struct Counting<'a, R> {
    inner: R,
    count: &'a mut u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

/// Options of a build that come from the environment, not the project.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub fetch: FetchOptions,
}

impl BuildOptions {
    /// The options the process environment names (`CRPACK_PIP_PYTHON`).
    pub fn from_env() -> Self {
        BuildOptions {
            fetch: FetchOptions::from_env(),
        }
    }
}

impl std::fmt::Display for FetchEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text::escape;
        match self {
            FetchEvent::Cached { file_name, .. } => {
                write!(f, "{:<11} {} (cached)", "wheel", escape(file_name))
            }
            FetchEvent::Downloading { count } => {
                write!(f, "{:<11} downloading {count} pinned wheel(s) with pip", "wheels")
            }
            FetchEvent::Downloaded { file_name, size, .. } => write!(
                f,
                "{:<11} {} ({}, hash checked)",
                "wheel",
                escape(file_name),
                crate::text::human_bytes(*size)
            ),
        }
    }
}

/// Fetches the wheels, plans the tree and writes the archive to `dest`.
pub fn build(
    plan: &VenvPlan,
    dest: &Path,
    mtime: u64,
    options: &BuildOptions,
    events: &mut dyn FnMut(EnvEvent),
) -> Result<EnvBuild, EnvError> {
    let target = &plan.target;
    let fetched: Vec<FetchedWheel> = match &plan.requirements {
        Some(reqs) => {
            let cache = WheelCache::from_env()?;
            fetch::fetch_with(reqs, target, &cache, &options.fetch, &mut |e| {
                events(EnvEvent::Fetch(e))
            })?
        }
        None => Vec::new(),
    };
    let site = target.site_packages();
    let mut tree = Tree::default();
    add_skeleton(&mut tree, target)?;

    let mut own_modules = Vec::new();
    for f in &plan.own {
        if let Some(m) = top_level_module(&f.entry)
            && !own_modules.contains(&m)
        {
            own_modules.push(m);
        }
        tree.add(
            format!("{site}/{}", f.entry),
            Node::File {
                executable: f.executable,
                size: f.size,
                source: Source::Own(f.source.clone()),
                owner: Owner::Project(f.source.display().to_string()),
            },
        )?;
    }
    own_modules.sort();

    let mut wheels = Vec::new();
    let mut records = Vec::new();
    for (w, fw) in fetched.iter().enumerate() {
        let mut wheel = Wheel::open(&fw.path)?;
        let planned = wheel.plan(target)?;
        let mut installed = 0u64;
        for p in planned {
            let (size, source) = match p.content {
                Content::Zip { index, size, sha256 } => (
                    size,
                    Source::Wheel {
                        wheel: w,
                        index,
                        sha256,
                    },
                ),
                Content::Bytes(b) => (b.len() as u64, Source::Bytes(b)),
            };
            installed += size;
            tree.add(
                p.path,
                Node::File {
                    executable: p.executable,
                    size,
                    source,
                    owner: Owner::Wheel(fw.file_name.clone()),
                },
            )?;
        }
        let meta = wheel.metadata();
        records.push(WheelRecord {
            name: meta.name.clone(),
            version: meta.version.clone(),
            file_name: fw.file_name.clone(),
            sha256: fw.sha256,
            url: fw.url.clone(),
            native: wheel.is_native(),
            license: meta.license.clone(),
            installed_bytes: installed,
            modules: wheel.top_level_modules(),
        });
        wheels.push(wheel);
    }

    let total: u64 = tree
        .nodes
        .values()
        .map(|n| match n {
            Node::File { size, .. } => *size,
            _ => 0,
        })
        .sum();
    events(EnvEvent::Planned {
        entries: tree.nodes.len(),
        bytes: total,
    });

    let file = File::create(dest).map_err(|e| EnvError::io(dest, e))?;
    let sink = HashingWriter {
        inner: BufWriter::with_capacity(BUFFER_SIZE, file),
        hasher: Hasher::new(),
    };
    let mut tar = targz::tar_gz(sink, mtime);
    let mut written = 0u64;
    let mut last_report = 0u64;
    let write_err = |path: &str, e: TargzError| EnvError::Write {
        entry: path.to_string(),
        source: e.into(),
    };
    for (path, node) in &tree.nodes {
        match node {
            Node::Dir => tar.dir(path).map_err(|e| write_err(path, e))?,
            Node::Symlink(to) => tar.symlink(path, to).map_err(|e| write_err(path, e))?,
            Node::File {
                executable,
                size,
                source,
                ..
            } => {
                let mut count = 0u64;
                match source {
                    Source::Own(p) => {
                        let f = File::open(p).map_err(|e| EnvError::io(p, e))?;
                        let mut r = Counting {
                            inner: f,
                            count: &mut count,
                        };
                        tar.file(path, *size, *executable, &mut r)
                            .map_err(|e| write_err(path, e))?;
                    }
                    Source::Bytes(b) => {
                        let mut r = Counting {
                            inner: &b[..],
                            count: &mut count,
                        };
                        tar.file(path, *size, *executable, &mut r)
                            .map_err(|e| write_err(path, e))?;
                    }
                    Source::Wheel { wheel, index, sha256 } => {
                        let verified = wheels[*wheel].verified_entry(*index, *size, *sha256)?;
                        let mut r = Counting {
                            inner: verified,
                            count: &mut count,
                        };
                        tar.file(path, *size, *executable, &mut r)
                            .map_err(|e| write_err(path, e))?;
                    }
                }
                written += count;
                if written - last_report >= 16 << 20 {
                    last_report = written;
                    events(EnvEvent::Written {
                        bytes: written,
                        total,
                    });
                }
            }
        }
    }
    let sink = tar.finish_gz().map_err(|e| EnvError::Write {
        entry: "(end of archive)".to_string(),
        source: e,
    })?;
    let HashingWriter { inner, hasher } = sink;
    inner
        .into_inner()
        .map_err(|e| EnvError::io(dest, e.into_error()))?;
    let (sha256, size) = hasher.finish();
    events(EnvEvent::Written {
        bytes: written,
        total,
    });
    Ok(EnvBuild {
        file_name: VENV_FILE_NAME.to_string(),
        sha256,
        size,
        target: target.clone(),
        wheels: records,
        own_modules,
        entries: tree.nodes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_modules_from_paths() {
        assert_eq!(top_level_module("pkg/__init__.py").as_deref(), Some("pkg"));
        assert_eq!(top_level_module("six.py").as_deref(), Some("six"));
        assert_eq!(
            top_level_module("_cffi_backend.cpython-311-aarch64-linux-gnu.so").as_deref(),
            Some("_cffi_backend")
        );
        assert_eq!(top_level_module("six-1.16.0.dist-info/RECORD"), None);
        assert_eq!(top_level_module("lookup.csv"), None);
        assert_eq!(top_level_module("not-a-module/x.py"), None);
    }

    #[test]
    fn pyvenv_cfg_is_the_runtimes() {
        let cfg = pyvenv_cfg(&Target::default());
        assert!(cfg.starts_with("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11."));
        assert!(cfg.ends_with("executable = /usr/bin/python3.11\n"));
    }

    #[test]
    fn conflicts_name_both_owners() {
        let mut t = Tree::default();
        let file = |o: Owner| Node::File {
            executable: false,
            size: 0,
            source: Source::Bytes(Vec::new()),
            owner: o,
        };
        t.add("lib/x/a.py".into(), file(Owner::Project("lib/x/a.py".into())))
            .unwrap();
        let err = t
            .add(
                "lib/x/a.py".into(),
                file(Owner::Wheel("x-1-py3-none-any.whl".into())),
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("lib/x/a.py") && msg.contains("x-1-py3-none-any.whl"),
            "{msg}"
        );
        assert!(t.nodes.contains_key("lib") && t.nodes.contains_key("lib/x"));
    }
}
