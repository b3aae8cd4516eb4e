//! Unpacks a venv-pack style `.tar.gz` without trusting it.
//!
//! An environment archive comes from someone else's build, so unpacking it must not be able to
//! touch anything outside the destination. The rules:
//!
//! - Every gzip member is read (a tar stream may be split across members). After the tar
//!   end-of-archive marker only zeros may follow: a second archive appended after it would be
//!   ignored by `tar -x` (which is how Spark unpacks archives), so it is refused rather than
//!   guessed at.
//! - Only regular files, directories and symbolic links are created. Absolute member paths,
//!   `..` components, hard links, devices, FIFOs, sparse files and unknown member types are
//!   refused with an error naming the member.
//! - Nothing is written through a symbolic link: every parent of a member must be a directory this
//!   unpacking created (checked on disk with `symlink_metadata`), and files are created with
//!   `O_EXCL`. A path that appears twice is refused (except a directory repeated).
//! - A symbolic link's target is resolved lexically from the link's own directory, following the
//!   links created before it, and must stay inside the destination. Once every member is in
//!   place, all links are checked again, so a link made later cannot turn an earlier one into an
//!   escape (`b -> a/..` followed by `a -> .`).
//! - The one exception: a link directly in the top-level `bin/` may lead to an absolute path. That
//!   is where a venv's interpreter links live (`bin/python3.11 -> /usr/bin/python3.11`, and
//!   `bin/python -> python3.11` leading to it): they name the runtime's interpreter, are data in
//!   the environment, and are never followed here.
//! - Files get mode 0755 when any execute bit is set in the archive, else 0644; directories
//!   0755. Owners and times are not restored.
//!
//! On any error the destination is emptied again (and removed when this created it).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// How many symbolic links one target may pass through before it counts as a loop.
const MAX_HOPS: usize = 40;

/// What an unpacking created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackSummary {
    pub files: usize,
    /// Directories created, whether the archive listed them or only their contents.
    pub directories: usize,
    pub symlinks: usize,
    /// Bytes written into files.
    pub bytes: u64,
}

/// Why a member is not unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its path is absolute")]
    AbsolutePath,
    #[error("its path has a `..` component")]
    ParentComponent,
    #[error("its path is empty")]
    EmptyPath,
    #[error("its path or link target is not UTF-8")]
    NotUtf8,
    #[error(
        "it is a hard link to {target:?}; only regular files, directories and symbolic links are unpacked"
    )]
    HardLink { target: String },
    #[error("it is a {kind}; only regular files, directories and symbolic links are unpacked")]
    Special { kind: &'static str },
    #[error("it is a symbolic link without a target")]
    EmptyLinkTarget,
    #[error(
        "it is a symbolic link to {target:?}, which leads outside the destination (absolute targets are allowed only for links directly in bin/)"
    )]
    SymlinkEscape { target: String },
    #[error("it is a symbolic link to {target:?}, which loops")]
    SymlinkLoop { target: String },
    #[error("it would be written through the symbolic link {component:?}")]
    ThroughSymlink { component: String },
    #[error("its parent {component:?} is not a directory")]
    NotADirectory { component: String },
    #[error("the same path appears earlier in the archive")]
    Duplicate,
}

/// Everything that stops an unpacking. Each message names the archive and the member or file.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{}: cannot open the environment archive: {source}; check the path", archive.display())]
    Open { archive: PathBuf, source: io::Error },

    #[error(
        "{}: cannot read it as a gzip tar (venv-pack .tar.gz): {source}; the file is truncated or corrupt: build the environment archive again",
        archive.display()
    )]
    Corrupt { archive: PathBuf, source: io::Error },

    #[error(
        "{}: member {member:?} is not unpacked: {reason}; the archive is unsafe: build it again from a clean environment",
        archive.display()
    )]
    Refused {
        archive: PathBuf,
        member: String,
        reason: Refusal,
    },

    #[error(
        "{}: data follows the tar end-of-archive marker (archives concatenated?); `tar -x` stops at the marker and would not unpack it: build one archive",
        archive.display()
    )]
    TrailingData { archive: PathBuf },

    #[error("{}: cannot unpack into it: {reason}", dest.display())]
    Destination { dest: PathBuf, reason: String },

    #[error("{}: cannot write it: {source}; check free space and permissions", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// What a path in the destination is.
#[derive(Debug, Clone)]
enum Node {
    Dir,
    File,
    Link(String),
}

/// How a symbolic link's target leaves the destination.
enum Escape {
    /// To an absolute path, by whatever route.
    Absolute,
    /// Above the destination through `..`.
    Above,
    /// Through more than [`MAX_HOPS`] links.
    Loop,
}

struct Unpacker<'a> {
    archive: &'a Path,
    dest: PathBuf,
    /// Every path created, by its components joined with `/`.
    nodes: HashMap<String, Node>,
    /// Symbolic links in creation order: (member path, components).
    links: Vec<(String, Vec<String>)>,
    summary: UnpackSummary,
}

/// Unpacks `archive` (a gzip tar, all members) into `dest`, which must be missing or an empty
/// directory. See the module documentation for what is refused.
pub fn unpack_tar_gz(archive: &Path, dest: &Path) -> Result<UnpackSummary, UnpackError> {
    let file = File::open(archive).map_err(|source| UnpackError::Open {
        archive: archive.to_path_buf(),
        source,
    })?;
    let created_dest = prepare_dest(dest)?;
    let mut unpacker = Unpacker {
        archive,
        dest: dest.to_path_buf(),
        nodes: HashMap::new(),
        links: Vec::new(),
        summary: UnpackSummary::default(),
    };
    let result = unpacker.run(file);
    if result.is_err() {
        clean_up(dest, created_dest);
    }
    result.map(|()| unpacker.summary)
}

/// Checks the destination is missing (then creates it: returns true) or an empty directory.
fn prepare_dest(dest: &Path) -> Result<bool, UnpackError> {
    let problem = |reason: String| UnpackError::Destination {
        dest: dest.to_path_buf(),
        reason,
    };
    match fs::metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(|source| UnpackError::Write {
                path: dest.to_path_buf(),
                source,
            })?;
            Ok(true)
        }
        Err(e) => Err(problem(format!("{e}; check the path"))),
        Ok(m) if !m.is_dir() => Err(problem(
            "it is not a directory; choose a new or empty directory".into(),
        )),
        Ok(_) => {
            let mut entries = fs::read_dir(dest).map_err(|e| problem(format!("{e}; check permissions")))?;
            if entries.next().is_some() {
                return Err(problem("it is not empty; choose a new or empty directory".into()));
            }
            Ok(false)
        }
    }
}

/// Removes what an unpacking that failed created. Links are removed, never followed.
fn clean_up(dest: &Path, created_dest: bool) {
    if created_dest {
        let _ = fs::remove_dir_all(dest);
        return;
    }
    if let Ok(entries) = fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = fs::remove_dir_all(&path);
                }
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }
}

/// The components of a member path, or why it is refused. `.` and empty components are dropped.
fn components(path: &str) -> Result<Vec<String>, Refusal> {
    if path.starts_with('/') {
        return Err(Refusal::AbsolutePath);
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Refusal::ParentComponent),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

impl Unpacker<'_> {
    fn refused(&self, member: &str, reason: Refusal) -> UnpackError {
        UnpackError::Refused {
            archive: self.archive.to_path_buf(),
            member: member.to_string(),
            reason,
        }
    }

    fn corrupt(&self, source: io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_path_buf(),
            source,
        }
    }

    fn run(&mut self, file: File) -> Result<(), UnpackError> {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        let mut tar = tar::Archive::new(gz);
        let entries = tar.entries().map_err(|e| self.corrupt(e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.corrupt(e))?;
            self.member(entry)?;
        }
        // The rest of the stream: zeros only (the end marker's padding). Reading it to the end
        // also checks every gzip member's CRC and length.
        let mut rest = tar.into_inner();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = rest.read(&mut buf).map_err(|e| self.corrupt(e))?;
            if n == 0 {
                break;
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(UnpackError::TrailingData {
                    archive: self.archive.to_path_buf(),
                });
            }
        }
        // A link made later may change where an earlier one leads: check them all again.
        for (member, parts) in &self.links {
            if let Some(reason) = self.link_refusal(parts) {
                return Err(self.refused(member, reason));
            }
        }
        Ok(())
    }

    fn member<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        let name = String::from_utf8(raw).map_err(|_| self.refused(&lossy, Refusal::NotUtf8))?;
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        match kind {
            // PAX global headers carry metadata only.
            T::XGlobalHeader => return Ok(()),
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                return Err(self.refused(&name, Refusal::HardLink { target }));
            }
            T::Char => {
                return Err(self.refused(
                    &name,
                    Refusal::Special {
                        kind: "character device",
                    },
                ));
            }
            T::Block => return Err(self.refused(&name, Refusal::Special { kind: "block device" })),
            T::Fifo => return Err(self.refused(&name, Refusal::Special { kind: "FIFO" })),
            T::GNUSparse => return Err(self.refused(&name, Refusal::Special { kind: "sparse file" })),
            T::Regular | T::Continuous | T::Directory | T::Symlink => {}
            _ => {
                return Err(self.refused(
                    &name,
                    Refusal::Special {
                        kind: "member of an unknown type",
                    },
                ));
            }
        }
        let parts = components(&name).map_err(|r| self.refused(&name, r))?;
        if parts.is_empty() {
            // `./`: the destination itself.
            if kind == T::Directory {
                return Ok(());
            }
            return Err(self.refused(&name, Refusal::EmptyPath));
        }
        self.parents(&name, &parts)?;
        let key = parts.join("/");
        let path = self.dest.join(&key);
        match (kind, self.nodes.get(&key)) {
            (T::Directory, Some(Node::Dir)) => return Ok(()),
            (_, Some(_)) => return Err(self.refused(&name, Refusal::Duplicate)),
            (_, None) => {}
        }
        match kind {
            T::Directory => {
                self.make_dir(&path)?;
                self.nodes.insert(key, Node::Dir);
            }
            T::Symlink => {
                let target = match entry.link_name_bytes() {
                    Some(t) => String::from_utf8(t.into_owned())
                        .map_err(|_| self.refused(&name, Refusal::NotUtf8))?,
                    None => String::new(),
                };
                if target.is_empty() {
                    return Err(self.refused(&name, Refusal::EmptyLinkTarget));
                }
                // Recorded first so that a link to itself counts as a loop.
                self.nodes.insert(key, Node::Link(target.clone()));
                if let Some(reason) = self.link_refusal(&parts) {
                    return Err(self.refused(&name, reason));
                }
                make_symlink(&target, &path).map_err(|source| UnpackError::Write { path, source })?;
                self.links.push((name, parts));
                self.summary.symlinks += 1;
            }
            _ => {
                let executable = entry.header().mode().map_err(|e| self.corrupt(e))? & 0o111 != 0;
                let mut out = create_file(&path).map_err(|source| UnpackError::Write {
                    path: path.clone(),
                    source,
                })?;
                self.nodes.insert(key, Node::File);
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = entry.read(&mut buf).map_err(|e| self.corrupt(e))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n]).map_err(|source| UnpackError::Write {
                        path: path.clone(),
                        source,
                    })?;
                    self.summary.bytes += n as u64;
                }
                set_file_mode(&out, executable).map_err(|source| UnpackError::Write { path, source })?;
                self.summary.files += 1;
            }
        }
        Ok(())
    }

    /// Makes sure every parent of a member is a real directory this unpacking created, creating
    /// the missing ones.
    fn parents(&mut self, name: &str, parts: &[String]) -> Result<(), UnpackError> {
        for i in 1..parts.len() {
            let key = parts[..i].join("/");
            let path = self.dest.join(&key);
            match self.nodes.get(&key) {
                Some(Node::Dir) => {
                    let real_dir = fs::symlink_metadata(&path)
                        .map(|m| m.file_type().is_dir())
                        .unwrap_or(false);
                    if !real_dir {
                        return Err(self.refused(name, Refusal::NotADirectory { component: key }));
                    }
                }
                Some(Node::Link(_)) => {
                    return Err(self.refused(name, Refusal::ThroughSymlink { component: key }));
                }
                Some(Node::File) => {
                    return Err(self.refused(name, Refusal::NotADirectory { component: key }));
                }
                None => {
                    self.make_dir(&path)?;
                    self.nodes.insert(key, Node::Dir);
                }
            }
        }
        Ok(())
    }

    fn make_dir(&mut self, path: &Path) -> Result<(), UnpackError> {
        // `create_dir`, not `create_dir_all`: it fails on anything already there, link or not.
        create_dir(path).map_err(|source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        self.summary.directories += 1;
        Ok(())
    }

    /// Why the link at `parts` may not stay, if it may not.
    fn link_refusal(&self, parts: &[String]) -> Option<Refusal> {
        let Some(Node::Link(target)) = self.nodes.get(&parts.join("/")) else {
            return None;
        };
        let in_bin = parts.len() == 2 && parts[0] == "bin";
        let mut hops = 0;
        match self.walk(parts[..parts.len() - 1].to_vec(), target, &mut hops) {
            Ok(_) => None,
            Err(Escape::Absolute) if in_bin => None,
            Err(Escape::Absolute | Escape::Above) => Some(Refusal::SymlinkEscape {
                target: target.clone(),
            }),
            Err(Escape::Loop) => Some(Refusal::SymlinkLoop {
                target: target.clone(),
            }),
        }
    }

    /// Where `target`, read from the directory `from`, leads: lexically, following the links
    /// created so far (at every component, the last one too), as `..` does on disk.
    fn walk(&self, from: Vec<String>, target: &str, hops: &mut usize) -> Result<Vec<String>, Escape> {
        if target.starts_with('/') {
            return Err(Escape::Absolute);
        }
        let mut at = from;
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if at.pop().is_none() {
                        return Err(Escape::Above);
                    }
                }
                c => {
                    at.push(c.to_string());
                    if let Some(Node::Link(next)) = self.nodes.get(&at.join("/")) {
                        *hops += 1;
                        if *hops > MAX_HOPS {
                            return Err(Escape::Loop);
                        }
                        at.pop();
                        at = self.walk(at, next, hops)?;
                    }
                }
            }
        }
        Ok(at)
    }
}

#[cfg(unix)]
fn create_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o755).create(path)?;
    // The umask may have taken bits away: set them exactly.
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)
}

fn create_file(path: &Path) -> io::Result<File> {
    // `create_new` is O_CREAT|O_EXCL: it never opens an existing file or follows a link.
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn set_file_mode(file: &File, executable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_file_mode(_file: &File, _executable: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &str, path: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn make_symlink(_target: &str, _path: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symbolic links can only be unpacked on Unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venv::test_support::names_in;
    use tar::EntryType as T;

    /// One member of a test archive, written header by header so that members the `tar` crate
    /// would refuse to write (absolute, `..`) can be made too.
    enum M<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Special(&'a str, T),
    }

    fn header(name: &str, kind: T, size: u64, mode: u32, link: Option<&str>) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        if let Some(l) = link {
            h.set_link_name_literal(l).unwrap();
        }
        h.set_cksum();
        h
    }

    fn tar_bytes(members: &[M]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for m in members {
            let (h, data): (tar::Header, &[u8]) = match *m {
                M::File(n, d, mode) => (header(n, T::Regular, d.len() as u64, mode, None), d),
                M::Dir(n) => (header(n, T::Directory, 0, 0o755, None), b""),
                M::Link(n, t) => (header(n, T::Symlink, 0, 0o777, Some(t)), b""),
                M::Hard(n, t) => (header(n, T::Link, 0, 0o644, Some(t)), b""),
                M::Special(n, k) => (header(n, k, 0, 0o644, None), b""),
            };
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    struct Case {
        _tmp: tempfile::TempDir,
        outer: PathBuf,
        archive: PathBuf,
        dest: PathBuf,
    }

    /// An archive with `bytes`, and a destination `outer/dest` whose surroundings are watched.
    fn case(bytes: &[u8]) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().join("outer");
        fs::create_dir(&outer).unwrap();
        let archive = tmp.path().join("env.tar.gz");
        fs::write(&archive, bytes).unwrap();
        let dest = outer.join("dest");
        Case {
            _tmp: tmp,
            outer,
            archive,
            dest,
        }
    }

    /// Unpacks what must be refused: the error names `member`, nothing is left behind and
    /// nothing appeared beside the destination.
    fn refused(members: &[M], member: &str) -> Refusal {
        let c = case(&gz(&tar_bytes(members)));
        let err = unpack_tar_gz(&c.archive, &c.dest).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("{member:?}")) && message.contains("env.tar.gz"),
            "{message}"
        );
        assert!(!c.dest.exists(), "the destination is removed again");
        assert_eq!(names_in(&c.outer), Vec::<String>::new(), "nothing beside it");
        match err {
            UnpackError::Refused {
                member: m, reason, ..
            } => {
                assert_eq!(m, member);
                reason
            }
            other => panic!("expected a refusal of {member}, got {other:?}"),
        }
    }

    #[test]
    fn a_chain_of_links_cannot_climb_out() {
        let escape = |target: &str| Refusal::SymlinkEscape {
            target: target.into(),
        };
        let through = |component: &str| Refusal::ThroughSymlink {
            component: component.into(),
        };
        let cases: [(&[M], &str, Refusal); 5] = [
            // `c/x` would land beside the destination: c -> b/.. -> (a/..)/.. -> (.)/../..
            (
                &[
                    M::Link("a", "."),
                    M::Link("b", "a/.."),
                    M::Link("c", "b/.."),
                    M::File("c/x", b"out", 0o644),
                ],
                "b",
                escape("a/.."),
            ),
            // In the other order `b` looks harmless when it is made; the final check catches it.
            (&[M::Link("b", "a/.."), M::Link("a", ".")], "b", escape("a/..")),
            // And a file is never written through a link, even one that stays inside.
            (
                &[
                    M::Link("b", "a/.."),
                    M::Link("a", "."),
                    M::File("b/x", b"out", 0o644),
                ],
                "b/x",
                through("b"),
            ),
            (
                &[
                    M::Dir("lib"),
                    M::Link("lib64", "lib"),
                    M::File("lib64/x.py", b"", 0o644),
                ],
                "lib64/x.py",
                through("lib64"),
            ),
            (
                &[M::Link("d", "d/x"), M::File("ok", b"", 0o644)],
                "d",
                Refusal::SymlinkLoop { target: "d/x".into() },
            ),
        ];
        for (members, member, want) in cases {
            assert_eq!(refused(members, member), want, "{member}");
        }
        let r = refused(&[M::Link("e", "f"), M::Link("f", "e")], "f");
        assert!(matches!(r, Refusal::SymlinkLoop { .. }), "{r:?}");
    }

    #[test]
    fn absolute_parent_hard_link_and_special_members_are_refused() {
        assert_eq!(
            refused(
                &[M::File("ok.py", b"", 0o644), M::File("/tmp/x", b"out", 0o644)],
                "/tmp/x"
            ),
            Refusal::AbsolutePath
        );
        assert_eq!(
            refused(&[M::File("a/../../x", b"out", 0o644)], "a/../../x"),
            Refusal::ParentComponent
        );
        assert_eq!(refused(&[M::Dir("..")], ".."), Refusal::ParentComponent);
        assert_eq!(
            refused(
                &[M::File("six.py", b"x", 0o644), M::Hard("h.py", "six.py")],
                "h.py"
            ),
            Refusal::HardLink {
                target: "six.py".into()
            }
        );
        assert_eq!(
            refused(&[M::Special("dev/null", T::Char)], "dev/null"),
            Refusal::Special {
                kind: "character device"
            }
        );
        assert_eq!(
            refused(&[M::Special("dev/sda", T::Block)], "dev/sda"),
            Refusal::Special { kind: "block device" }
        );
        assert_eq!(
            refused(&[M::Special("pipe", T::Fifo)], "pipe"),
            Refusal::Special { kind: "FIFO" }
        );
        assert_eq!(
            refused(&[M::File("x", b"1", 0o644), M::File("./x", b"2", 0o644)], "./x"),
            Refusal::Duplicate
        );
        assert_eq!(
            refused(&[M::File("x", b"1", 0o644), M::File("x/y", b"2", 0o644)], "x/y"),
            Refusal::NotADirectory {
                component: "x".into()
            }
        );
    }

    #[test]
    fn absolute_link_targets_only_for_the_interpreter_links_in_bin() {
        for (link, target) in [
            ("lib/etc", "/etc"),
            ("bin/sub/python", "/usr/bin/python3.11"),
            ("lib/up", "../.."),
            ("up", ".."),
            // Relative, but it leads to an absolute one.
            ("lib/py", "../bin/python3.11"),
        ] {
            let r = refused(
                &[
                    M::Link("bin/python3.11", "/usr/bin/python3.11"),
                    M::Dir("lib"),
                    M::Link(link, target),
                ],
                link,
            );
            assert_eq!(
                r,
                Refusal::SymlinkEscape {
                    target: target.into()
                },
                "{link}"
            );
        }
    }

    /// Python's `tarfile` lists an archive: (name, type, link target, size), the independent
    /// judge of what it holds.
    fn python_listing(archive: &Path) -> Vec<(String, String, String, u64)> {
        let script = "import sys, tarfile\n\
            with tarfile.open(sys.argv[1], 'r:gz') as t:\n\
            \x20   for m in t.getmembers():\n\
            \x20       kind = 'file' if m.isfile() else 'dir' if m.isdir() else 'link' if m.issym() else 'other'\n\
            \x20       print(m.name.rstrip('/'), kind, m.linkname or '-', m.size, sep='\\t')\n";
        crate::testing::python3(script, [archive])
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].parse().unwrap(),
                )
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn a_venv_like_archive_is_unpacked() {
        use std::os::unix::fs::PermissionsExt;
        let cfg = b"home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.11\n";
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let tar = tar_bytes(&[
            M::File("pyvenv.cfg", cfg, 0o644),
            M::Dir("bin/"),
            M::Link("bin/python3.11", "/usr/bin/python3.11"),
            M::Link("bin/python", "python3.11"),
            M::Link("bin/python3", "python3.11"),
            M::File("bin/tool", b"#!/usr/bin/env python\n", 0o775),
            // No directory members for these: they are made as needed.
            M::File("lib/python3.11/site-packages/six.py", b"x = 1\n", 0o600),
            M::File("lib/python3.11/site-packages/pkg/data.bin", &big, 0o644),
            M::Dir("lib/python3.11/site-packages/pkg"),
            M::Link("lib/python3.11/site-packages/pkg/alias.py", "../six.py"),
            M::Link("lib64", "lib"),
            M::Link("here", "."),
            M::Dir("./"),
        ]);
        // Two gzip members, split inside the tar stream.
        let mut bytes = gz(&tar[..3 * 512]);
        bytes.extend(gz(&tar[3 * 512..]));
        let c = case(&bytes);
        let summary = unpack_tar_gz(&c.archive, &c.dest).unwrap();
        assert_eq!(
            summary,
            UnpackSummary {
                files: 4,
                directories: 5,
                symlinks: 6,
                bytes: (cfg.len() + 22 + 6 + big.len()) as u64,
            }
        );
        let d = &c.dest;
        let mode = |p: &str| fs::symlink_metadata(d.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("lib/python3.11/site-packages/six.py"), 0o644);
        assert_eq!(mode("pyvenv.cfg"), 0o644);
        assert_eq!(mode("lib/python3.11/site-packages/pkg"), 0o755);
        assert_eq!(
            fs::read(d.join("lib/python3.11/site-packages/pkg/data.bin")).unwrap(),
            big
        );
        assert_eq!(
            fs::read_link(d.join("bin/python3.11")).unwrap(),
            Path::new("/usr/bin/python3.11")
        );

        // Everything Python's tarfile sees in the archive is there, as the same kind of thing.
        let listing = python_listing(&c.archive);
        assert_eq!(listing.len(), 13);
        for (name, kind, link, size) in listing {
            let p = d.join(&name);
            let m = fs::symlink_metadata(&p).unwrap();
            match kind.as_str() {
                "file" => {
                    assert!(m.file_type().is_file(), "{name}");
                    assert_eq!(m.len(), size, "{name}");
                }
                "dir" => assert!(m.file_type().is_dir(), "{name}"),
                "link" => {
                    assert!(m.file_type().is_symlink(), "{name}");
                    assert_eq!(fs::read_link(&p).unwrap(), Path::new(&link), "{name}");
                }
                other => panic!("{name}: {other}"),
            }
        }
        assert_eq!(names_in(&c.outer), ["dest"]);
    }

    #[test]
    fn broken_archives_are_errors_and_leave_nothing() {
        let good = gz(&tar_bytes(&[
            M::File("a.py", &[7u8; 100_000], 0o644),
            M::File("b.py", b"b", 0o644),
        ]));
        let mut bad_crc = good.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        for (what, bytes) in [
            ("truncated", good[..good.len() / 2].to_vec()),
            ("no trailer", good[..good.len() - 8].to_vec()),
            ("wrong CRC", bad_crc),
            ("10 bytes", good[..10].to_vec()),
            ("not gzip", b"just some text, not an archive".to_vec()),
        ] {
            let c = case(&bytes);
            let err = unpack_tar_gz(&c.archive, &c.dest).unwrap_err();
            assert!(matches!(err, UnpackError::Corrupt { .. }), "{what}: {err:?}");
            assert!(err.to_string().contains("truncated or corrupt"), "{what}: {err}");
            assert!(!c.dest.exists(), "{what}");
        }

        // A second archive after the first one's end marker.
        let mut cat = good.clone();
        cat.extend(gz(&tar_bytes(&[M::File("c.py", b"c", 0o644)])));
        let c = case(&cat);
        let err = unpack_tar_gz(&c.archive, &c.dest).unwrap_err();
        assert!(matches!(err, UnpackError::TrailingData { .. }), "{err:?}");

        let c = case(&good);
        let err = unpack_tar_gz(&c.archive.with_extension("missing"), &c.dest).unwrap_err();
        assert!(matches!(err, UnpackError::Open { .. }), "{err:?}");
    }

    #[test]
    fn the_destination_must_be_new_or_empty() {
        let c = case(&gz(&tar_bytes(&[M::File("a.py", b"a", 0o644)])));
        fs::create_dir(&c.dest).unwrap();
        fs::write(c.dest.join("keep"), b"mine").unwrap();
        let err = unpack_tar_gz(&c.archive, &c.dest).unwrap_err();
        assert!(matches!(err, UnpackError::Destination { .. }), "{err:?}");
        assert_eq!(fs::read(c.dest.join("keep")).unwrap(), b"mine");

        // An existing empty directory is used, and emptied again on failure (not removed).
        fs::remove_file(c.dest.join("keep")).unwrap();
        assert_eq!(unpack_tar_gz(&c.archive, &c.dest).unwrap().files, 1);
        let bad = c.outer.join("bad.tar.gz");
        fs::write(
            &bad,
            gz(&tar_bytes(&[M::File("x", b"", 0o644), M::Hard("y", "x")])),
        )
        .unwrap();
        let again = c.outer.join("again");
        fs::create_dir(&again).unwrap();
        unpack_tar_gz(&bad, &again).unwrap_err();
        assert!(again.is_dir());
        assert_eq!(names_in(&again), Vec::<String>::new());
    }
}
