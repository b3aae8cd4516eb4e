//! The hash-pinned requirements file an environment is built from, read the way
//! `pip install --require-hashes` reads it.
//!
//! Every requirement is `name[extras]==version` with one `--hash=sha256:<hex>` per acceptable
//! file, optionally guarded by an environment marker (`; python_version >= "3.9"`) that is
//! evaluated for the target, not for the host. Lines may continue with `\`; `#` starts a comment
//! at the start of a line or after whitespace. Option lines choose where pip looks
//! (`--index-url`, `--extra-index-url`, `--find-links`, `--no-index`, `--trusted-host`) or include
//! another file (`-r`). Anything that would make the environment depend on more than the pinned
//! files (an unpinned or wildcard version, a missing or weak hash, an editable or URL
//! requirement) is an error naming the file and line, with the fix.

use std::cmp::Ordering;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::venv::target::{Target, normalize_name};

/// The fix for every unpinned requirement.
const PIN_FIX: &str = "`crpack lock` or `uv pip compile --generate-hashes` writes pins";

/// A parsed requirements file and the files it includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Every file read, the top one first, then the included ones in the order met.
    pub files: Vec<PathBuf>,
    /// Every requirement in file order, including those whose marker excludes the target.
    pub requirements: Vec<Requirement>,
    /// Where pip should look for the files.
    pub index: IndexOptions,
}

impl Requirements {
    /// The requirements that apply to the target, in file order.
    pub fn for_target(&self) -> impl Iterator<Item = &Requirement> + '_ {
        self.requirements.iter().filter(|r| r.for_target)
    }
}

/// One pinned requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The name as written.
    pub name: String,
    /// The PEP 503-normalized name.
    pub normalized: String,
    pub extras: Vec<String>,
    /// The pinned version as written after `==`.
    pub version: String,
    /// The acceptable files' digests, in the order written, without repeats.
    pub hashes: Vec<Sha256Digest>,
    /// The file the requirement is written in.
    pub file: PathBuf,
    /// The line it starts on (1-based).
    pub line: usize,
    /// The environment marker after `;`, if any.
    pub marker: Option<String>,
    /// Whether the marker (if any) holds for the target.
    pub for_target: bool,
}

impl Requirement {
    /// `name==version`.
    pub fn pin(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The index options of the requirements files, merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// `--index-url`.
    pub index_url: Option<String>,
    /// `--extra-index-url`, in order.
    pub extra_index_urls: Vec<String>,
    /// `--find-links`: URLs as written, paths made absolute.
    pub find_links: Vec<String>,
    /// `--no-index`.
    pub no_index: bool,
    /// `--trusted-host`.
    pub trusted_hosts: Vec<String>,
}

impl IndexOptions {
    /// The options as requirements-file lines, quoted for pip's parser.
    pub fn to_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.no_index {
            lines.push("--no-index".to_string());
        }
        if let Some(url) = &self.index_url {
            lines.push(format!("--index-url {}", quote(url)));
        }
        for url in &self.extra_index_urls {
            lines.push(format!("--extra-index-url {}", quote(url)));
        }
        for link in &self.find_links {
            lines.push(format!("--find-links {}", quote(link)));
        }
        for host in &self.trusted_hosts {
            lines.push(format!("--trusted-host {}", quote(host)));
        }
        lines
    }
}

/// Quotes a value for pip's `shlex`-based option parser when it needs it.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,~${}?&".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// A requirements file that cannot be used as the environment's lock.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    #[error("{}: cannot read the requirements file{}: {source}; check the path", file.display(), included_from(from))]
    Read {
        file: PathBuf,
        /// `file:line` of the `-r` that includes it.
        from: Option<String>,
        source: io::Error,
    },

    #[error(
        "{}:{line}: `{requirement}` is not pinned to one version; pin it: {name}==X --hash=sha256:…; {PIN_FIX}",
        file.display()
    )]
    Unpinned {
        file: PathBuf,
        line: usize,
        name: String,
        requirement: String,
    },

    #[error(
        "{}:{line}: `{name}=={version}` is a wildcard, not one version; pin it: {name}==X --hash=sha256:…; {PIN_FIX}",
        file.display()
    )]
    Wildcard {
        file: PathBuf,
        line: usize,
        name: String,
        version: String,
    },

    #[error(
        "{}:{line}: `{name}=={version}` has no --hash; every requirement needs the sha256 of each file it may use: add --hash=sha256:<hex> ({PIN_FIX})",
        file.display()
    )]
    NoHash {
        file: PathBuf,
        line: usize,
        name: String,
        version: String,
    },

    #[error(
        "{}:{line}: `{name}` is pinned with a {algorithm} hash; crpack checks sha256 only: regenerate the hashes as --hash=sha256:<hex> ({PIN_FIX})",
        file.display()
    )]
    HashAlgorithm {
        file: PathBuf,
        line: usize,
        name: String,
        algorithm: String,
    },

    #[error(
        "{}:{line}: `{name}` has a malformed hash {value:?}: write --hash=sha256:<64 hex digits> ({PIN_FIX})",
        file.display()
    )]
    MalformedHash {
        file: PathBuf,
        line: usize,
        name: String,
        value: String,
    },

    #[error(
        "{}:{line}: `{name}` is already required at {first} for the target; keep one pin per project (give them exclusive markers if they are for different targets)",
        file.display()
    )]
    Duplicate {
        file: PathBuf,
        line: usize,
        name: String,
        first: String,
    },

    #[error("{}:{line}: in the marker `{marker}`: {message}", file.display())]
    Marker {
        file: PathBuf,
        line: usize,
        marker: String,
        message: String,
    },

    #[error("{}:{line}: {message}", file.display())]
    Unsupported {
        file: PathBuf,
        line: usize,
        /// What is wrong and the fix.
        message: String,
    },

    #[error(
        "{}:{line}: including {} again makes a cycle ({}); remove one of the -r lines",
        file.display(),
        included.display(),
        chain.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" -> ")
    )]
    Cycle {
        file: PathBuf,
        line: usize,
        included: PathBuf,
        chain: Vec<PathBuf>,
    },
}

fn included_from(from: &Option<String>) -> String {
    match from {
        Some(at) => format!(" (included from {at})"),
        None => String::new(),
    }
}

/// Reads `path` (and the files it includes) for `target`.
pub fn parse_file(path: &Path, target: &Target) -> Result<Requirements, RequirementsError> {
    let mut parser = Parser {
        env: MarkerEnv::for_target(target),
        out: Requirements::default(),
        stack: Vec::new(),
        index_url_at: None,
    };
    parser.parse(path, None)?;
    Ok(parser.out)
}

struct Parser {
    env: MarkerEnv,
    out: Requirements,
    /// Canonical paths of the files being read, outermost first, for cycle detection.
    stack: Vec<PathBuf>,
    /// Where `--index-url` was set, to report a conflicting second one.
    index_url_at: Option<String>,
}

impl Parser {
    fn parse(&mut self, path: &Path, from: Option<(&Path, usize)>) -> Result<(), RequirementsError> {
        let from_text = from.map(|(f, l)| format!("{}:{l}", f.display()));
        let read_err = |source| RequirementsError::Read {
            file: path.to_path_buf(),
            from: from_text.clone(),
            source,
        };
        let canonical = fs::canonicalize(path).map_err(read_err)?;
        if self.stack.contains(&canonical) {
            let (file, line) = from.map(|(f, l)| (f.to_path_buf(), l)).unwrap_or_default();
            let mut chain = self.stack.clone();
            chain.push(canonical);
            return Err(RequirementsError::Cycle {
                file,
                line,
                included: path.to_path_buf(),
                chain,
            });
        }
        let bytes = fs::read(path).map_err(read_err)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| read_err(io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text")))?;
        self.out.files.push(path.to_path_buf());
        self.stack.push(canonical);
        let dir = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        for (line_no, line) in logical_lines(&text) {
            let ctx = LineCtx {
                file: path,
                line: line_no,
                dir: &dir,
            };
            if line.starts_with('-') {
                self.options_line(&ctx, &line)?;
            } else {
                self.requirement_line(&ctx, &line)?;
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn options_line(&mut self, ctx: &LineCtx, line: &str) -> Result<(), RequirementsError> {
        let tokens = split_shell(line).map_err(|m| ctx.unsupported(m))?;
        let mut i = 0;
        while i < tokens.len() {
            let token = tokens[i].as_str();
            i += 1;
            let (option, inline) = split_option(token);
            let mut value = |what: &str| -> Result<String, RequirementsError> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = tokens
                    .get(i)
                    .cloned()
                    .ok_or_else(|| ctx.unsupported(format!("`{option}` needs {what} after it")))?;
                i += 1;
                Ok(v)
            };
            match option {
                "-i" | "--index-url" => {
                    let url = value("a URL")?;
                    if let Some(old) = &self.out.index.index_url
                        && *old != url
                    {
                        return Err(ctx.unsupported(format!(
                            "a second --index-url ({url}) differs from the one at {} ({old}); keep one and add the other as --extra-index-url",
                            self.index_url_at.clone().unwrap_or_default()
                        )));
                    }
                    self.out.index.index_url = Some(url);
                    self.index_url_at = Some(ctx.location());
                }
                "--extra-index-url" => {
                    let url = value("a URL")?;
                    push_unique(&mut self.out.index.extra_index_urls, url);
                }
                "-f" | "--find-links" => {
                    let link = value("a directory or URL")?;
                    let link = absolute_link(&link, ctx.dir);
                    push_unique(&mut self.out.index.find_links, link);
                }
                "--no-index" => self.out.index.no_index = true,
                "--trusted-host" => {
                    let host = value("a host name")?;
                    push_unique(&mut self.out.index.trusted_hosts, host);
                }
                "-r" | "--requirement" => {
                    let nested = value("a file")?;
                    if nested.contains("://") {
                        return Err(ctx.unsupported(format!(
                            "`-r {nested}` names a URL; only local requirements files are read: download it next to this file and include it by path"
                        )));
                    }
                    let nested_path = ctx.relative(&nested);
                    self.parse(&nested_path, Some((ctx.file, ctx.line)))?;
                }
                // Harmless here: the versions are pinned and only wheels are ever used.
                "--pre" | "--prefer-binary" | "--require-hashes" => {}
                "--only-binary" => {
                    value("a package list")?;
                }
                "-e" | "--editable" => {
                    return Err(ctx.unsupported(
                        "an editable requirement cannot go into the environment: build a wheel (`pip wheel --no-deps -w wheels/ <path>`), add `--find-links wheels` and pin it as name==version --hash=sha256:…".to_string(),
                    ));
                }
                "-c" | "--constraint" => {
                    return Err(ctx.unsupported(
                        "constraints files are not read: write the pins (name==version --hash=sha256:…) into the requirements file itself".to_string(),
                    ));
                }
                "--no-binary" => {
                    return Err(ctx.unsupported(
                        "--no-binary asks for source builds, and crpack compiles nothing: remove it (every requirement must have a wheel for the target)".to_string(),
                    ));
                }
                _ => {
                    return Err(ctx.unsupported(format!(
                        "the option `{option}` is not supported: remove it (crpack reads -i/--index-url, --extra-index-url, -f/--find-links, --no-index, --trusted-host, -r/--requirement and --hash, and ignores --pre, --prefer-binary, --require-hashes and --only-binary)"
                    )));
                }
            }
        }
        Ok(())
    }

    fn requirement_line(&mut self, ctx: &LineCtx, line: &str) -> Result<(), RequirementsError> {
        // As pip does: the requirement ends at the first word that starts with `-`.
        let words: Vec<&str> = line.split_whitespace().collect();
        let split = words
            .iter()
            .position(|w| w.starts_with('-'))
            .unwrap_or(words.len());
        let spec_text = words[..split].join(" ");
        let option_text = words[split..].join(" ");

        let (spec, marker) = match spec_text.split_once(';') {
            Some((s, m)) => (s.trim(), Some(m.trim().to_string())),
            None => (spec_text.trim(), None),
        };
        let parsed = parse_spec(spec).map_err(|m| ctx.unsupported(m))?;
        let version = match parsed.specifier {
            Specifier::Pinned(v) => v,
            Specifier::Other(text) => {
                return Err(RequirementsError::Unpinned {
                    file: ctx.file.to_path_buf(),
                    line: ctx.line,
                    name: parsed.name.clone(),
                    requirement: if text.is_empty() {
                        parsed.name
                    } else {
                        spec.to_string()
                    },
                });
            }
        };
        if version.contains('*') {
            return Err(RequirementsError::Wildcard {
                file: ctx.file.to_path_buf(),
                line: ctx.line,
                name: parsed.name,
                version,
            });
        }

        let tokens = split_shell(&option_text).map_err(|m| ctx.unsupported(m))?;
        let mut hashes: Vec<Sha256Digest> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let (option, inline) = split_option(&tokens[i]);
            i += 1;
            match option {
                "--hash" => {
                    let value = match inline {
                        Some(v) => v,
                        None => {
                            let v = tokens.get(i).cloned().unwrap_or_default();
                            i += 1;
                            v
                        }
                    };
                    let digest = parse_hash(&value).map_err(|e| match e {
                        HashProblem::Algorithm(algorithm) => RequirementsError::HashAlgorithm {
                            file: ctx.file.to_path_buf(),
                            line: ctx.line,
                            name: parsed.name.clone(),
                            algorithm,
                        },
                        HashProblem::Malformed => RequirementsError::MalformedHash {
                            file: ctx.file.to_path_buf(),
                            line: ctx.line,
                            name: parsed.name.clone(),
                            value: value.clone(),
                        },
                    })?;
                    if !hashes.contains(&digest) {
                        hashes.push(digest);
                    }
                }
                _ => {
                    return Err(ctx.unsupported(format!(
                        "the option `{option}` after `{}=={version}` is not supported: remove it (a requirement line takes only --hash=sha256:<hex>)",
                        parsed.name
                    )));
                }
            }
        }
        if hashes.is_empty() {
            return Err(RequirementsError::NoHash {
                file: ctx.file.to_path_buf(),
                line: ctx.line,
                name: parsed.name,
                version,
            });
        }

        let for_target = match &marker {
            None => true,
            Some(m) => evaluate_marker(m, &self.env).map_err(|e| RequirementsError::Marker {
                file: ctx.file.to_path_buf(),
                line: ctx.line,
                marker: m.clone(),
                message: e.0,
            })?,
        };
        let normalized = normalize_name(&parsed.name);
        if for_target && let Some(first) = self.out.for_target().find(|r| r.normalized == normalized) {
            return Err(RequirementsError::Duplicate {
                file: ctx.file.to_path_buf(),
                line: ctx.line,
                name: parsed.name,
                first: first.location(),
            });
        }
        self.out.requirements.push(Requirement {
            name: parsed.name,
            normalized,
            extras: parsed.extras,
            version,
            hashes,
            file: ctx.file.to_path_buf(),
            line: ctx.line,
            marker,
            for_target,
        });
        Ok(())
    }
}

struct LineCtx<'a> {
    file: &'a Path,
    line: usize,
    /// The file's directory, absolute.
    dir: &'a Path,
}

impl LineCtx<'_> {
    fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    fn unsupported(&self, message: String) -> RequirementsError {
        RequirementsError::Unsupported {
            file: self.file.to_path_buf(),
            line: self.line,
            message,
        }
    }

    /// A path written in the file, relative to the file's directory.
    fn relative(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            let base = self.file.parent().unwrap_or(Path::new(""));
            base.join(p)
        }
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// A `--find-links` value: a URL as written, a path made absolute against the file's directory.
fn absolute_link(link: &str, dir: &Path) -> String {
    if link.contains("://") || link.starts_with("file:") {
        return link.to_string();
    }
    let p = Path::new(link);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    lexically_clean(&joined).display().to_string()
}

/// Removes `.` components and folds `..` into the component before it (without touching the
/// file system).
fn lexically_clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `--hash=x` → (`--hash`, Some(x)); `-iURL` → (`-i`, Some(URL)); `--pre` → (`--pre`, None).
fn split_option(token: &str) -> (&str, Option<String>) {
    if let Some(rest) = token.strip_prefix("--") {
        return match rest.split_once('=') {
            Some((name, value)) => (&token[..name.len() + 2], Some(value.to_string())),
            None => (token, None),
        };
    }
    if token.len() > 2 && token.is_char_boundary(2) {
        let (opt, value) = token.split_at(2);
        if matches!(opt, "-i" | "-f" | "-r" | "-c" | "-e") {
            return (opt, Some(value.to_string()));
        }
    }
    (token, None)
}

enum HashProblem {
    Algorithm(String),
    Malformed,
}

fn parse_hash(value: &str) -> Result<Sha256Digest, HashProblem> {
    let (algorithm, hex) = value.split_once(':').ok_or(HashProblem::Malformed)?;
    if algorithm != "sha256" {
        if algorithm.is_empty() || !algorithm.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(HashProblem::Malformed);
        }
        return Err(HashProblem::Algorithm(algorithm.to_string()));
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(HashProblem::Malformed);
    }
    Sha256Digest::parse(hex).map_err(|_| HashProblem::Malformed)
}

/// Physical lines joined where they end in `\`, comments removed, blank lines dropped; each with
/// the number of the line it starts on. Follows pip: a comment line ends a continuation.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let comment_line = raw.trim_start().starts_with('#');
        if let Some(body) = raw.strip_suffix('\\')
            && !comment_line
        {
            match &mut pending {
                Some((_, acc)) => acc.push_str(body),
                None => pending = Some((number, body.to_string())),
            }
            continue;
        }
        let (start, joined) = match pending.take() {
            Some((start, mut acc)) => {
                if !comment_line {
                    acc.push_str(raw);
                }
                (start, acc)
            }
            None => (number, raw.to_string()),
        };
        push_logical(&mut out, start, &joined);
    }
    if let Some((start, acc)) = pending {
        push_logical(&mut out, start, &acc);
    }
    out
}

fn push_logical(out: &mut Vec<(usize, String)>, start: usize, line: &str) {
    let stripped = strip_comment(line).trim();
    if !stripped.is_empty() {
        out.push((start, stripped.to_string()));
    }
}

/// Cuts a `#` comment at the start of the line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Splits an options line like a POSIX shell does (quotes and backslashes), as pip's `shlex`.
fn split_shell(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err(unterminated(text)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => current.push(ch),
                            Some(ch) => {
                                current.push('\\');
                                current.push(ch);
                            }
                            None => return Err(unterminated(text)),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err(unterminated(text)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    current.push(ch);
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        out.push(current);
    }
    Ok(out)
}

fn unterminated(text: &str) -> String {
    format!("unterminated quote in `{text}`: close the quote")
}

struct ParsedSpec {
    name: String,
    extras: Vec<String>,
    specifier: Specifier,
}

enum Specifier {
    /// `==version` (the version may still hold a wildcard).
    Pinned(String),
    /// Anything else, as written (empty when there is no specifier).
    Other(String),
}

/// Parses `name[extras] <specifiers>` (no marker).
fn parse_spec(spec: &str) -> Result<ParsedSpec, String> {
    let not_a_pin = || {
        format!(
            "`{spec}` is not a name==version requirement; URLs, paths and direct references cannot be pinned by crpack: build or download the wheel into a directory, add `--find-links <dir>` and pin it as name==version --hash=sha256:…"
        )
    };
    if spec.contains("://")
        || spec.contains('@')
        || spec.starts_with('.')
        || spec.starts_with('/')
        || spec.starts_with('~')
        || spec.ends_with(".whl")
        || spec.ends_with(".tar.gz")
        || spec.ends_with(".zip")
    {
        return Err(not_a_pin());
    }
    let name_end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..name_end];
    let valid_name = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid_name {
        if spec.contains('/') || spec.contains('\\') {
            return Err(not_a_pin());
        }
        return Err(format!(
            "`{spec}` does not start with a project name; write name==version --hash=sha256:…"
        ));
    }
    let mut rest = spec[name_end..].trim_start();
    let mut extras = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or_else(|| {
            format!("`{spec}`: the extras list is not closed; write name[extra1,extra2]==version")
        })?;
        for extra in after[..close].split(',') {
            let extra = extra.trim();
            if extra.is_empty() {
                continue;
            }
            if !extra
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(format!(
                    "`{spec}`: `{extra}` is not a valid extra name; write name[extra1,extra2]==version"
                ));
            }
            extras.push(extra.to_string());
        }
        rest = after[close + 1..].trim_start();
    }
    let mut specifier = rest.trim();
    if let Some(inner) = specifier.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        specifier = inner.trim();
    }
    if specifier.is_empty() {
        return Ok(ParsedSpec {
            name: name.to_string(),
            extras,
            specifier: Specifier::Other(String::new()),
        });
    }
    let clauses: Vec<&str> = specifier.split(',').map(str::trim).collect();
    for clause in &clauses {
        let op_len = clause
            .find(|c: char| !matches!(c, '=' | '<' | '>' | '!' | '~'))
            .unwrap_or(clause.len());
        let (op, version) = clause.split_at(op_len);
        let version = version.trim();
        let known = matches!(op, "==" | "===" | "!=" | "~=" | "<=" | ">=" | "<" | ">");
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '!' | '+' | '_' | '-' | '*'));
        if !known || !version_ok {
            return Err(format!(
                "`{spec}`: `{clause}` is not a version specifier; write {name}==version --hash=sha256:…"
            ));
        }
    }
    let specifier = match clauses.as_slice() {
        [one] if one.starts_with("==") && !one.starts_with("===") => {
            Specifier::Pinned(one[2..].trim().to_string())
        }
        _ => Specifier::Other(specifier.to_string()),
    };
    Ok(ParsedSpec {
        name: name.to_string(),
        extras,
        specifier,
    })
}

// ---------------------------------------------------------------------------------------------
// Environment markers (PEP 508), evaluated for the target.

/// The values of the marker variables for the target.
#[derive(Debug, Clone)]
pub struct MarkerEnv {
    values: Vec<(&'static str, String)>,
}

/// Variables compared as versions.
const VERSION_VARIABLES: [&str; 3] = ["python_version", "python_full_version", "implementation_version"];

impl MarkerEnv {
    pub fn for_target(target: &Target) -> Self {
        MarkerEnv {
            values: vec![
                ("python_version", target.python_version()),
                ("python_full_version", target.python_full.clone()),
                ("implementation_version", target.python_full.clone()),
                ("platform_machine", target.arch.clone()),
                ("sys_platform", "linux".into()),
                ("platform_system", "Linux".into()),
                ("os_name", "posix".into()),
                ("implementation_name", "cpython".into()),
                ("platform_python_implementation", "CPython".into()),
            ],
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn names(&self) -> String {
        self.values.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }
}

/// A marker that cannot be evaluated; the message says why and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MarkerError(pub String);

/// Whether `marker` holds for the target.
pub fn marker_applies(marker: &str, target: &Target) -> Result<bool, MarkerError> {
    evaluate_marker(marker, &MarkerEnv::for_target(target))
}

/// Evaluates a marker against `env`.
pub fn evaluate_marker(marker: &str, env: &MarkerEnv) -> Result<bool, MarkerError> {
    let tokens = tokenize_marker(marker)?;
    if tokens.is_empty() {
        return Err(MarkerError(
            "the marker is empty: remove the `;` or write a condition".into(),
        ));
    }
    let mut parser = MarkerParser { tokens, pos: 0, env };
    let value = parser.or_expr()?;
    if let Some(token) = parser.tokens.get(parser.pos) {
        return Err(MarkerError(format!(
            "unexpected {token} after a complete condition: join conditions with `and`/`or`"
        )));
    }
    Ok(value)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Str(String),
    Word(String),
    Op(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Str(s) => write!(f, "the string {s:?}"),
            Token::Word(w) | Token::Op(w) => write!(f, "`{w}`"),
        }
    }
}

fn tokenize_marker(text: &str) -> Result<Vec<Token>, MarkerError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '\'' | '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, ch)) if ch == c => break,
                        Some((_, ch)) => s.push(ch),
                        None => {
                            return Err(MarkerError(format!(
                                "the string starting at {:?} is not closed: add the closing {c}",
                                &text[i..]
                            )));
                        }
                    }
                }
                tokens.push(Token::Str(s));
            }
            '<' | '>' | '=' | '!' | '~' => {
                let mut op = String::new();
                while let Some(&(_, ch)) = chars.peek() {
                    if matches!(ch, '<' | '>' | '=' | '!' | '~') {
                        op.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if !matches!(op.as_str(), "<" | "<=" | "==" | "!=" | ">=" | ">" | "~=" | "===") {
                    return Err(MarkerError(format!(
                        "`{op}` is not a comparison operator: use ==, !=, <, <=, >, >=, ~=, in or not in"
                    )));
                }
                tokens.push(Token::Op(op));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let mut w = String::new();
                while let Some(&(_, ch)) = chars.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' {
                        w.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(w));
            }
            other => {
                return Err(MarkerError(format!(
                    "unexpected character {other:?}: markers are `variable op \"value\"` joined by and/or"
                )));
            }
        }
    }
    Ok(tokens)
}

struct MarkerParser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    env: &'a MarkerEnv,
}

/// One side of a comparison.
struct Operand {
    value: String,
    /// The variable it came from, if any.
    variable: Option<String>,
}

impl MarkerParser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn or_expr(&mut self) -> Result<bool, MarkerError> {
        let mut value = self.and_expr()?;
        while self.is_word("or") {
            self.pos += 1;
            // Both sides are always evaluated so that an error anywhere is reported.
            let rhs = self.and_expr()?;
            value = value || rhs;
        }
        Ok(value)
    }

    fn and_expr(&mut self) -> Result<bool, MarkerError> {
        let mut value = self.atom()?;
        while self.is_word("and") {
            self.pos += 1;
            let rhs = self.atom()?;
            value = value && rhs;
        }
        Ok(value)
    }

    fn atom(&mut self) -> Result<bool, MarkerError> {
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let value = self.or_expr()?;
            match self.next() {
                Some(Token::Close) => return Ok(value),
                Some(t) => {
                    return Err(MarkerError(format!(
                        "expected `)` but found {t}: close the parenthesis"
                    )));
                }
                None => {
                    return Err(MarkerError("a `(` is not closed: add the `)`".to_string()));
                }
            }
        }
        let lhs = self.operand()?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(Token::Word(w)) if w == "in" => "in".to_string(),
            Some(Token::Word(w)) if w == "not" => match self.next() {
                Some(Token::Word(w)) if w == "in" => "not in".to_string(),
                _ => {
                    return Err(MarkerError("`not` must be followed by `in`".to_string()));
                }
            },
            Some(t) => {
                return Err(MarkerError(format!(
                    "expected a comparison operator but found {t}: use ==, !=, <, <=, >, >=, ~=, in or not in"
                )));
            }
            None => {
                return Err(MarkerError(
                    "the marker ends before the comparison does: write `variable op \"value\"`".to_string(),
                ));
            }
        };
        let rhs = self.operand()?;
        compare(&lhs, &op, &rhs)
    }

    fn operand(&mut self) -> Result<Operand, MarkerError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Operand {
                value: s,
                variable: None,
            }),
            Some(Token::Word(w)) => match self.env.get(&w) {
                Some(v) => Ok(Operand {
                    value: v.to_string(),
                    variable: Some(w),
                }),
                None => Err(MarkerError(format!(
                    "unknown marker variable `{w}` (its value on the target is not known): use one of {}, or quote a literal string",
                    self.env.names()
                ))),
            },
            Some(t) => Err(MarkerError(format!(
                "expected a variable or a quoted string but found {t}"
            ))),
            None => Err(MarkerError(
                "the marker ends before the comparison does: write `variable op \"value\"`".to_string(),
            )),
        }
    }
}

fn compare(lhs: &Operand, op: &str, rhs: &Operand) -> Result<bool, MarkerError> {
    match op {
        "in" => return Ok(rhs.value.contains(&lhs.value)),
        "not in" => return Ok(!rhs.value.contains(&lhs.value)),
        "===" => return Ok(lhs.value == rhs.value),
        _ => {}
    }
    let is_version = |o: &Operand| {
        o.variable
            .as_deref()
            .is_some_and(|v| VERSION_VARIABLES.contains(&v))
    };
    if is_version(lhs) || is_version(rhs) {
        return compare_versions(&lhs.value, op, &rhs.value);
    }
    let ordering = lhs.value.cmp(&rhs.value);
    match op {
        "==" => Ok(ordering == Ordering::Equal),
        "!=" => Ok(ordering != Ordering::Equal),
        "<" => Ok(ordering == Ordering::Less),
        "<=" => Ok(ordering != Ordering::Greater),
        ">" => Ok(ordering == Ordering::Greater),
        ">=" => Ok(ordering != Ordering::Less),
        _ => Err(MarkerError(format!(
            "`{op}` compares versions, but {:?} and {:?} are not version variables: use == or !=",
            lhs.value, rhs.value
        ))),
    }
}

fn compare_versions(lhs: &str, op: &str, rhs: &str) -> Result<bool, MarkerError> {
    let bad = |v: &str| {
        MarkerError(format!(
            "{v:?} is not a version: write it as digits and dots (\"3.11\")"
        ))
    };
    if let Some(prefix) = rhs.strip_suffix(".*") {
        if !matches!(op, "==" | "!=") {
            return Err(MarkerError(format!(
                "a wildcard version ({rhs:?}) only works with == and !="
            )));
        }
        let left = Version::parse(lhs).ok_or_else(|| bad(lhs))?;
        let prefix = Version::parse(prefix).ok_or_else(|| bad(rhs))?;
        let matches = left.epoch == prefix.epoch
            && (0..prefix.release.len()).all(|i| left.segment(i) == prefix.segment(i));
        return Ok(if op == "==" { matches } else { !matches });
    }
    let left = Version::parse(lhs).ok_or_else(|| bad(lhs))?;
    let right = Version::parse(rhs).ok_or_else(|| bad(rhs))?;
    let ordering = left.cmp(&right);
    Ok(match op {
        "==" => ordering == Ordering::Equal,
        "!=" => ordering != Ordering::Equal,
        "<" => ordering == Ordering::Less,
        "<=" => ordering != Ordering::Greater,
        ">" => ordering == Ordering::Greater,
        ">=" => ordering != Ordering::Less,
        "~=" => {
            if right.release.len() < 2 {
                return Err(MarkerError(format!(
                    "`~={rhs}` needs at least two version parts (\"3.11\")"
                )));
            }
            let prefix_len = right.release.len() - 1;
            ordering != Ordering::Less
                && left.epoch == right.epoch
                && (0..prefix_len).all(|i| left.segment(i) == right.segment(i))
        }
        _ => return Err(MarkerError(format!("`{op}` is not a version comparison"))),
    })
}

/// A PEP 440 version, enough to order interpreter and package versions: epoch, release,
/// pre-release, post-release and dev-release (a local part is ignored).
#[derive(Debug, Clone)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number).
    pub pre: Option<(u8, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
}

impl Version {
    /// Parses a version in any of PEP 440's spellings (`1.0RC1`, `v2`, `1.0-1`, `1.0.post1`).
    pub fn parse(text: &str) -> Option<Version> {
        let lower = text.trim().to_ascii_lowercase();
        let s = lower.strip_prefix('v').unwrap_or(&lower);
        let s = s.split('+').next().unwrap_or(s);
        let (epoch, s) = match s.split_once('!') {
            Some((e, rest)) => (e.parse().ok()?, rest),
            None => (0, s),
        };
        let bytes = s.as_bytes();
        let mut pos = 0;
        let number = |pos: &mut usize| -> Option<u64> {
            let start = *pos;
            while *pos < bytes.len() && bytes[*pos].is_ascii_digit() {
                *pos += 1;
            }
            if start == *pos {
                return None;
            }
            s[start..*pos].parse().ok()
        };
        let mut release = vec![number(&mut pos)?];
        while pos + 1 < bytes.len() && bytes[pos] == b'.' && bytes[pos + 1].is_ascii_digit() {
            pos += 1;
            release.push(number(&mut pos)?);
        }
        let skip_sep = |pos: &mut usize| {
            if *pos < bytes.len() && matches!(bytes[*pos], b'.' | b'-' | b'_') {
                *pos += 1;
            }
        };
        let word = |pos: &mut usize, words: &[&str]| -> Option<usize> {
            let mut save = *pos;
            skip_sep(&mut save);
            let rest = &s[save..];
            let found = words.iter().position(|w| rest.starts_with(w))?;
            *pos = save + words[found].len();
            Some(found)
        };
        let optional_number = |pos: &mut usize| -> u64 {
            let mut save = *pos;
            skip_sep(&mut save);
            let start = save;
            while save < bytes.len() && bytes[save].is_ascii_digit() {
                save += 1;
            }
            if save == start {
                return 0;
            }
            *pos = save;
            s[start..save].parse().unwrap_or(0)
        };
        let mut pre = None;
        if let Some(kind) = word(
            &mut pos,
            &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
        ) {
            let kind = match kind {
                0 | 5 => 0,
                1 | 6 => 1,
                _ => 2,
            };
            pre = Some((kind, optional_number(&mut pos)));
        }
        let mut post = None;
        if let Some(_kind) = word(&mut pos, &["post", "rev", "r"]) {
            post = Some(optional_number(&mut pos));
        } else if pos + 1 < bytes.len() && bytes[pos] == b'-' && bytes[pos + 1].is_ascii_digit() {
            pos += 1;
            post = number(&mut pos);
        }
        let mut dev = None;
        if word(&mut pos, &["dev"]).is_some() {
            dev = Some(optional_number(&mut pos));
        }
        if pos != s.len() {
            return None;
        }
        Some(Version {
            epoch,
            release,
            pre,
            post,
            dev,
        })
    }

    /// The release segment `i`, zero past the end.
    fn segment(&self, i: usize) -> u64 {
        self.release.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // A missing part sorts per PEP 440: a dev-only release before any pre-release, no
        // pre-release after all of them; no post-release first; no dev-release last.
        fn pre_key(v: &Version) -> (i8, u64) {
            match (v.pre, v.post, v.dev) {
                (Some((kind, n)), _, _) => (kind as i8, n),
                (None, None, Some(_)) => (-1, 0),
                _ => (3, 0),
            }
        }
        fn post_key(v: &Version) -> (i8, u64) {
            v.post.map_or((-1, 0), |n| (0, n))
        }
        fn dev_key(v: &Version) -> (i8, u64) {
            v.dev.map_or((1, 0), |n| (0, n))
        }
        let len = self.release.len().max(other.release.len());
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| {
                (0..len)
                    .map(|i| self.segment(i).cmp(&other.segment(i)))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            .then_with(|| post_key(self).cmp(&post_key(other)))
            .then_with(|| dev_key(self).cmp(&dev_key(other)))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether two version strings name the same version (`1.0` and `1.0.0` do).
pub fn same_version(a: &str, b: &str) -> bool {
    match (Version::parse(a), Version::parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, text).unwrap();
        path
    }

    fn parse(text: &str) -> Result<Requirements, RequirementsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "requirements.txt", text);
        parse_file(&path, &Target::default())
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn applies(marker: &str) -> bool {
        marker_applies(marker, &Target::default()).unwrap()
    }

    #[test]
    fn pinned_requirements_parse() {
        let text = format!(
            "# the lock\n\nNumPy==1.26.4 --hash=sha256:{H1} --hash=sha256:{H2}\nrequests[socks, security]==2.32.3 --hash sha256:{}\n",
            H2.to_uppercase()
        );
        let reqs = parse(&text).unwrap();
        assert_eq!(reqs.requirements.len(), 2);
        let numpy = &reqs.requirements[0];
        assert_eq!(numpy.name, "NumPy");
        assert_eq!(numpy.normalized, "numpy");
        assert_eq!(numpy.version, "1.26.4");
        assert_eq!(numpy.line, 3);
        assert_eq!(
            numpy.hashes,
            [Sha256Digest::parse(H1).unwrap(), Sha256Digest::parse(H2).unwrap()]
        );
        assert!(numpy.for_target);
        assert_eq!(numpy.marker, None);
        assert_eq!(numpy.pin(), "NumPy==1.26.4");
        let requests = &reqs.requirements[1];
        assert_eq!(requests.extras, ["socks", "security"]);
        assert_eq!(requests.hashes, [Sha256Digest::parse(H2).unwrap()]);
        assert_eq!(reqs.files.len(), 1);
        assert_eq!(reqs.index, IndexOptions::default());
    }

    #[test]
    fn continuations_and_comments() {
        let text = format!(
            "six==1.16.0 \\\n    --hash=sha256:{H1} \\\n    --hash=sha256:{H2}\n    # via -r requirements.in\nattrs==23.2.0 --hash=sha256:{H1}  # trailing comment\n#attrs==1 is a comment\nidna==3.7 \\\n  --hash=sha256:{H2}#notacomment\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        // `#` not preceded by whitespace is part of the hash, which is then malformed.
        assert!(err.contains("requirements.txt:7:"), "{err}");
        assert!(err.contains("malformed hash"), "{err}");

        let text = text.replace("#notacomment", " # a comment");
        let reqs = parse(&text).unwrap();
        let lines: Vec<(&str, usize, usize)> = reqs
            .requirements
            .iter()
            .map(|r| (r.name.as_str(), r.line, r.hashes.len()))
            .collect();
        assert_eq!(lines, [("six", 1, 2), ("attrs", 5, 1), ("idna", 7, 1)]);
    }

    #[test]
    fn windows_line_endings_are_read() {
        let reqs = parse(&format!("six==1.16.0 \\\r\n --hash=sha256:{H1}\r\n")).unwrap();
        assert_eq!(reqs.requirements[0].hashes.len(), 1);
    }

    #[test]
    fn markers_are_evaluated_for_the_target() {
        let text = format!(
            "tomli==2.0.1 ; python_version < \"3.11\" --hash=sha256:{H1}\n\
             exceptiongroup==1.2.0; python_version<'3.11' --hash=sha256:{H1}\n\
             uvloop==0.19.0 ; sys_platform == \"linux\" and platform_machine == \"aarch64\" --hash=sha256:{H2}\n\
             pywin32==306 ; sys_platform == \"win32\" --hash=sha256:{H2}\n"
        );
        let reqs = parse(&text).unwrap();
        let for_target: Vec<&str> = reqs.for_target().map(|r| r.name.as_str()).collect();
        assert_eq!(for_target, ["uvloop"]);
        assert_eq!(
            reqs.requirements.len(),
            4,
            "requirements for other targets are kept"
        );
        assert_eq!(
            reqs.requirements[0].marker.as_deref(),
            Some("python_version < \"3.11\"")
        );
        assert!(!reqs.requirements[0].for_target);
    }

    #[test]
    fn marker_semantics() {
        assert!(applies("python_version == \"3.11\""));
        assert!(applies("python_version >= \"3.9\""), "numeric, not string, order");
        assert!(!applies("python_version < \"3.9\""));
        assert!(applies("python_version > \"3.9\" and python_version < \"3.12\""));
        assert!(applies("python_full_version >= \"3.11.4\""));
        assert!(applies("python_full_version == \"3.11.11\""));
        assert!(applies("python_version == \"3.*\""));
        assert!(!applies("python_version != \"3.11.*\""));
        assert!(applies("python_version ~= \"3.10\""));
        assert!(!applies("python_full_version ~= \"3.10.0\""));
        assert!(applies("\"3.8\" <= python_version"));
        assert!(applies(
            "(os_name == \"nt\" or platform_system == \"Linux\") and implementation_name == \"cpython\""
        ));
        assert!(!applies(
            "os_name == \"nt\" or (platform_system == \"Linux\" and implementation_name == \"pypy\")"
        ));
        assert!(applies("platform_python_implementation == 'CPython'"));
        assert!(applies("\"linux\" in sys_platform"));
        assert!(applies("platform_machine not in \"x86_64 AMD64 win32\""));
        assert!(!applies("platform_machine in \"x86_64 AMD64\""));
        assert!(applies("platform_machine != \"x86_64\""));
        assert!(applies("implementation_version >= \"3.11\""));
        // `and` binds tighter than `or`.
        assert!(applies(
            "os_name == \"posix\" or os_name == \"nt\" and sys_platform == \"win32\""
        ));
        assert!(!applies(
            "os_name == \"nt\" and sys_platform == \"linux\" or os_name == \"nt\""
        ));
    }

    /// pip's own marker evaluator (its vendored `packaging`), given the target's values, agrees.
    #[test]
    fn markers_agree_with_pip() {
        let markers = [
            "python_version == \"3.11\"",
            "python_version >= \"3.9\"",
            "python_version < \"3.9\"",
            "python_version > \"3.9\" and python_version < \"3.12\"",
            "python_version < \"3.10\" or python_version >= \"3.11\"",
            "python_full_version >= \"3.11.4\"",
            "python_full_version < \"3.11.11\"",
            "python_full_version <= \"3.11.11\"",
            "python_version == \"3.*\"",
            "python_version != \"3.11.*\"",
            "python_version ~= \"3.10\"",
            "python_full_version ~= \"3.10.0\"",
            "python_full_version ~= \"3.11.2\"",
            "\"3.8\" <= python_version",
            "(os_name == \"nt\" or platform_system == \"Linux\") and implementation_name == \"cpython\"",
            "os_name == \"posix\" or os_name == \"nt\" and sys_platform == \"win32\"",
            "platform_python_implementation == 'CPython'",
            "platform_python_implementation != 'PyPy'",
            "\"linux\" in sys_platform",
            "platform_machine not in \"x86_64 AMD64 win32\"",
            "platform_machine in \"x86_64 AMD64\"",
            "platform_machine == \"arm64\" or platform_machine == \"aarch64\"",
            "sys_platform == \"darwin\"",
            "implementation_version >= \"3.11.0rc1\"",
            "python_full_version > \"3.11.11rc1\"",
            "python_version > \"3.11.0.post1\"",
        ];
        let target = Target::default();
        let program = r#"
import json, sys
from pip._vendor.packaging.markers import Marker
env = json.loads(sys.argv[1])
for m in json.loads(sys.argv[2]):
    print("1" if Marker(m).evaluate(env) else "0")
"#;
        let env = serde_json::json!({
            "python_version": target.python_version(),
            "python_full_version": target.python_full,
            "implementation_version": target.python_full,
            "platform_machine": target.arch,
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_version": "",
        });
        // pip's own marker code is the judge (python3 with pip is needed).
        let args = [env.to_string(), serde_json::to_string(&markers).unwrap()];
        let pip: Vec<bool> = crate::testing::python3(program, args)
            .lines()
            .map(|l| l == "1")
            .collect();
        assert_eq!(pip.len(), markers.len());
        for (marker, expected) in markers.iter().zip(pip) {
            assert_eq!(applies(marker), expected, "{marker}");
        }
    }

    /// Parsing `text` fails with an error that contains each of `parts`.
    fn assert_error_says(text: &str, parts: &[&str]) {
        let err = parse_err(text);
        for part in parts {
            assert!(err.contains(part), "{text:?}: {err}");
        }
    }

    #[test]
    fn marker_errors_name_the_line_and_the_fix() {
        for (marker, expected) in [
            (
                "platform_release >= \"5.10\"",
                "unknown marker variable `platform_release`",
            ),
            ("extra == \"test\"", "unknown marker variable `extra`"),
            ("python_version >", "ends before the comparison"),
            ("python_version >= \"3.8\" and", "ends before the comparison"),
            ("(python_version >= \"3.8\"", "not closed"),
            ("python_version => \"3.8\"", "not a comparison operator"),
            ("python_version >= \"3.8", "not closed"),
            ("python_version \"3.8\"", "expected a comparison operator"),
            ("python_version >= \"three\"", "not a version"),
            ("sys_platform ~= \"linux\"", "use == or !="),
            ("python_version >= \"3.8\" os_name", "unexpected"),
            ("", "empty"),
        ] {
            let text = format!("\n\nsix==1.16.0 ; {marker} --hash=sha256:{H1}\n");
            assert_error_says(&text, &["requirements.txt:3:", expected]);
        }
    }

    #[test]
    fn an_error_in_a_branch_that_does_not_decide_is_still_an_error() {
        let err = marker_applies(
            "os_name == \"posix\" or platform_release == \"x\"",
            &Target::default(),
        )
        .unwrap_err();
        assert!(err.0.contains("platform_release"), "{err}");
    }

    #[test]
    fn unpinned_requirements_are_refused_with_the_fix() {
        for (line, shown) in [
            ("numpy>=1.26", "`numpy>=1.26`"),
            ("numpy", "`numpy`"),
            ("numpy~=1.26.0", "`numpy~=1.26.0`"),
            ("numpy==1.26.4,<2", "`numpy==1.26.4,<2`"),
            ("numpy===1.26.4", "`numpy===1.26.4`"),
            ("numpy!=1.0", "`numpy!=1.0`"),
        ] {
            assert_error_says(
                &format!("# x\n{line} --hash=sha256:{H1}\n"),
                &[
                    "requirements.txt:2: ",
                    shown,
                    "pin it: numpy==X --hash=sha256:",
                    "crpack lock",
                    "uv pip compile --generate-hashes",
                ],
            );
        }
        // Unpinned is reported before the missing hash.
        let err = parse_err("numpy>=1.26\n");
        assert!(err.contains("not pinned"), "{err}");
    }

    #[test]
    fn pins_in_parentheses_and_with_spaces_are_pins() {
        let reqs = parse(&format!(
            "six (== 1.16.0) --hash=sha256:{H1}\nidna == 3.7 --hash=sha256:{H2}\n"
        ))
        .unwrap();
        let pins: Vec<String> = reqs.requirements.iter().map(Requirement::pin).collect();
        assert_eq!(pins, ["six==1.16.0", "idna==3.7"]);
    }

    #[test]
    fn wildcards_are_refused() {
        let err = parse_err(&format!("numpy==1.* --hash=sha256:{H1}\n"));
        assert!(err.contains("requirements.txt:1:"), "{err}");
        assert!(err.contains("wildcard"), "{err}");
        assert!(err.contains("pin it: numpy==X"), "{err}");
    }

    #[test]
    fn hashes_are_required_and_must_be_sha256_hex() {
        let err = parse_err("six==1.16.0\n");
        assert!(matches!(
            parse("six==1.16.0\n"),
            Err(RequirementsError::NoHash { line: 1, .. })
        ));
        assert!(err.contains("has no --hash"), "{err}");

        let sha512 = "ab".repeat(64);
        let err = parse(&format!("six==1.16.0 --hash=sha512:{sha512}\n")).unwrap_err();
        assert!(
            matches!(&err, RequirementsError::HashAlgorithm { algorithm, .. } if algorithm == "sha512"),
            "{err}"
        );
        assert!(err.to_string().contains("sha256 only"), "{err}");

        for bad in [
            format!("sha256:{}", &H1[..63]),
            format!("sha256:{}z", &H1[..63]),
            format!("sha256:{H1}00"),
            H1.to_string(),
            "sha256:".to_string(),
            // base64 is a valid spelling elsewhere, not here.
            format!("sha256:{}", Sha256Digest::of(b"").to_base64()),
        ] {
            let err = parse(&format!("six==1.16.0 --hash={bad}\n")).unwrap_err();
            assert!(
                matches!(err, RequirementsError::MalformedHash { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("64 hex digits"), "{err}");
        }
    }

    #[test]
    fn the_same_project_twice_for_the_target_is_refused() {
        let err = parse_err(&format!(
            "Foo_Bar==1.0 --hash=sha256:{H1}\nfoo-bar==1.0 --hash=sha256:{H2}\n"
        ));
        assert!(err.contains("requirements.txt:2:"), "{err}");
        assert!(err.contains("already required at"), "{err}");
        assert!(err.contains("requirements.txt:1"), "{err}");

        // Exclusive markers: one per target is fine.
        let reqs = parse(&format!(
            "numpy==1.24.4 ; python_version < \"3.9\" --hash=sha256:{H1}\nnumpy==1.26.4 ; python_version >= \"3.9\" --hash=sha256:{H2}\n"
        ))
        .unwrap();
        let pins: Vec<&str> = reqs.for_target().map(|r| r.version.as_str()).collect();
        assert_eq!(pins, ["1.26.4"]);
    }

    #[test]
    fn index_options_are_collected_and_find_links_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let top = write(
            dir.path(),
            "requirements.txt",
            &format!(
                "--index-url https://pypi.example/simple\n--extra-index-url=https://extra.example/simple --trusted-host extra.example\n-f ./wheels\n--find-links https://example.org/links/\n--no-index\n-r sub/more.txt\nsix==1.16.0 --hash=sha256:{H1}\n"
            ),
        );
        write(
            dir.path(),
            "sub/more.txt",
            &format!(
                "--find-links ../shared/wheels\n-i https://pypi.example/simple\nidna==3.7 --hash=sha256:{H2}\n"
            ),
        );
        let reqs = parse_file(&top, &Target::default()).unwrap();
        let root = std::path::absolute(dir.path()).unwrap();
        assert_eq!(
            reqs.index.index_url.as_deref(),
            Some("https://pypi.example/simple")
        );
        assert_eq!(reqs.index.extra_index_urls, ["https://extra.example/simple"]);
        assert_eq!(reqs.index.trusted_hosts, ["extra.example"]);
        assert!(reqs.index.no_index);
        assert_eq!(
            reqs.index.find_links,
            [
                root.join("wheels").display().to_string(),
                "https://example.org/links/".to_string(),
                root.join("shared/wheels").display().to_string(),
            ]
        );
        assert_eq!(
            reqs.files,
            [
                top.clone(),
                dir.path()
                    .join("requirements.txt")
                    .parent()
                    .unwrap()
                    .join("sub/more.txt")
            ]
        );
        let names: Vec<(&str, usize)> = reqs
            .requirements
            .iter()
            .map(|r| (r.name.as_str(), r.line))
            .collect();
        assert_eq!(
            names,
            [("idna", 3), ("six", 7)],
            "included requirements come in at the -r line"
        );
        assert!(reqs.requirements[0].file.ends_with("sub/more.txt"));
    }

    #[test]
    fn a_second_different_index_url_is_refused() {
        let err = parse_err("-i https://a.example/simple\n--index-url https://b.example/simple\n");
        assert!(err.contains("requirements.txt:2:"), "{err}");
        assert!(err.contains("requirements.txt:1"), "{err}");
        assert!(err.contains("--extra-index-url"), "{err}");
    }

    #[test]
    fn nested_cycles_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.txt", "-r b.txt\n");
        write(dir.path(), "b.txt", "# b\n--requirement=./a.txt\n");
        let err = parse_file(&a, &Target::default()).unwrap_err();
        assert!(matches!(err, RequirementsError::Cycle { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("b.txt:2"), "{err}");
        assert!(err.to_string().contains("cycle"), "{err}");

        let c = write(dir.path(), "c.txt", "\n-r missing.txt\n");
        let err = parse_file(&c, &Target::default()).unwrap_err().to_string();
        assert!(err.contains("missing.txt"), "{err}");
        assert!(err.contains("included from"), "{err}");
        assert!(err.contains("c.txt:2"), "{err}");

        let err = parse_file(&dir.path().join("nope.txt"), &Target::default()).unwrap_err();
        assert!(matches!(err, RequirementsError::Read { from: None, .. }), "{err}");
    }

    #[test]
    fn unsupported_lines_are_refused_with_the_fix() {
        for (line, expected) in [
            ("-e .", "editable"),
            ("--editable=git+https://x/y.git#egg=y", "editable"),
            ("-c constraints.txt", "constraints"),
            ("--no-binary :all:", "compiles nothing"),
            ("--use-feature truststore", "`--use-feature` is not supported"),
            ("-r https://example.org/r.txt", "only local requirements files"),
            ("--index-url", "needs a URL"),
            ("./pkg", "--find-links"),
            (
                "https://example.org/six-1.16.0-py2.py3-none-any.whl",
                "--find-links",
            ),
            ("six @ https://example.org/six.whl", "--find-links"),
            ("wheels/six-1.16.0-py2.py3-none-any.whl", "--find-links"),
            ("six==1.16.0 --global-option=x", "takes only --hash"),
            ("six=1.0", "not a version specifier"),
            ("six[extra==1.0", "extras list is not closed"),
            ("--find-links 'unterminated", "unterminated quote"),
        ] {
            let text = if line.starts_with('-') {
                format!("# first\n{line}\n")
            } else {
                format!("# first\n{line} --hash=sha256:{H1}\n")
            };
            let err = parse_err(&text);
            assert!(err.contains("requirements.txt:2:"), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn harmless_pip_options_pass() {
        let reqs = parse(&format!(
            "--pre\n--prefer-binary --require-hashes\n--only-binary :all:\nsix==1.16.0 --hash=sha256:{H1}\n"
        ))
        .unwrap();
        assert_eq!(reqs.requirements.len(), 1);
        assert_eq!(reqs.index, IndexOptions::default());
    }

    #[test]
    fn index_lines_quote_what_pip_would_split() {
        let options = IndexOptions {
            index_url: Some("https://u:${TOKEN}@pypi.example/simple".into()),
            extra_index_urls: vec![],
            find_links: vec!["/tmp/my wheels/it's".into()],
            no_index: true,
            trusted_hosts: vec!["pypi.example".into()],
        };
        assert_eq!(
            options.to_lines(),
            [
                "--no-index",
                "--index-url https://u:${TOKEN}@pypi.example/simple",
                r"--find-links '/tmp/my wheels/it'\''s'",
                "--trusted-host pypi.example",
            ]
        );
        for line in options.to_lines() {
            let words = split_shell(&line).unwrap();
            assert_eq!(words.len(), if line == "--no-index" { 1 } else { 2 }, "{line}");
        }
        assert_eq!(
            split_shell(r"--find-links '/tmp/my wheels/it'\''s'").unwrap()[1],
            "/tmp/my wheels/it's"
        );
    }

    #[test]
    fn versions_order_as_pep_440() {
        let v = |s: &str| Version::parse(s).unwrap_or_else(|| panic!("{s}"));
        let ordered = [
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0.post1",
            "1.0.1",
            "1.1",
            "2",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0RC1"), v("1.0rc1"));
        assert_eq!(v("1.0-1"), v("1.0.post1"));
        assert_eq!(v("v3.11"), v("3.11"));
        assert_eq!(v("1.0+local.7"), v("1.0"));
        assert!(Version::parse("three").is_none());
        assert!(Version::parse("1.0x").is_none());
        assert!(same_version("1.0", "1.0.0"));
        assert!(!same_version("1.0", "1.0.1"));
    }
}
