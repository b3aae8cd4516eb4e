//! Snapshots of what a command prints: its exit status, stdout and stderr in one text, compared
//! exactly with the committed `.snap` file after filters replace what differs between runs
//! (temporary paths, ports, generated ids, times).

use std::path::Path;

use super::Run;

/// The exit status, stdout and stderr of a finished run, in one text.
pub fn render(run: &Run) -> String {
    render_parts(run.code(), &run.stdout(), &run.stderr())
}

/// `render` from the parts (for a process the test drove itself).
pub fn render_parts(code: i32, stdout: &str, stderr: &str) -> String {
    format!("exit: {code}\n----- stdout -----\n{stdout}\n----- stderr -----\n{stderr}\n")
}

/// A regular expression that matches `text` literally.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The filters for one snapshot test: first the exact values the test knows by name, then the
/// shapes of whatever else a run generates.
#[derive(Clone)]
pub struct Filters {
    named: Vec<(String, String)>,
    patterns: Vec<(String, String)>,
    columns: bool,
}

impl Filters {
    pub fn new() -> Filters {
        Filters {
            named: Vec::new(),
            patterns: Vec::new(),
            columns: true,
        }
    }

    /// Keeps runs of spaces as they are (for output without columns sized by a path).
    pub fn exact_spacing(mut self) -> Filters {
        self.columns = false;
        self
    }

    /// Replaces every occurrence of `value` with `[NAME]`.
    pub fn name(mut self, value: &str, name: &str) -> Filters {
        if !value.is_empty() {
            self.named.push((literal(value), format!("[{name}]")));
        }
        self
    }

    /// Replaces what the regular expression `re` matches with `with` (before the generic
    /// filters).
    pub fn pattern(mut self, re: &str, with: &str) -> Filters {
        self.patterns.push((re.to_string(), with.to_string()));
        self
    }

    /// Replaces a temporary directory (and its canonical form) with `[NAME]`.
    pub fn dir(self, dir: &Path, name: &str) -> Filters {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let this = self.name(&canonical.display().to_string(), name);
        this.name(&dir.display().to_string(), name)
    }

    /// The ids a seeded sandbox hands out, by role.
    pub fn seeded(self, seed: &crpack_sandbox::seed::SeedInfo) -> Filters {
        self.name(&seed.author.membership_id, "AUTHOR_MEMBERSHIP")
            .name(&seed.provider.membership_id, "PROVIDER_MEMBERSHIP")
            .name(&seed.collaboration_id, "COLLABORATION")
            .name(&seed.endpoint, "ENDPOINT")
            .tables(&seed.tables)
            // A template's registered name ends in a digest of its definition, which holds the
            // membership id.
            .pattern(r"\b(audience-overlap-)[0-9a-f]{8}\b", "${1}[DIGEST]")
            .pattern(
                r#""definition_sha256": "[0-9a-f]{64}""#,
                r#""definition_sha256": "[DEFINITION_SHA256]""#,
            )
    }

    /// The provider's configured tables and associations, by table name.
    fn tables(mut self, tables: &[crpack_sandbox::seed::SeededTable]) -> Filters {
        for t in tables {
            let upper = t.name.to_uppercase();
            self = self
                .name(&t.configured_table_id, &format!("{upper}_TABLE"))
                .name(&t.association_id, &format!("{upper}_ASSOCIATION"));
        }
        self
    }

    /// Settings with these filters, then the generic ones.
    pub fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_omit_expression(true);
        for (re, with) in &self.named {
            s.add_filter(re, with.as_str());
        }
        for (re, with) in &self.patterns {
            s.add_filter(re, with.as_str());
        }
        // Loopback endpoints on ephemeral ports.
        s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
        // Generated ids: UUIDs (templates, jobs, requests) and S3 version ids (32 hex digits).
        s.add_filter(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "[UUID]",
        );
        s.add_filter(r"\b[0-9a-f]{32}\b", "[VERSION_ID]");
        // Times: RFC 3339 timestamps and measured durations.
        s.add_filter(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
            "[TIMESTAMP]",
        );
        s.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": "[DURATION]""#);
        s.add_filter(r#""billed_crpu": [0-9.e-]+"#, r#""billed_crpu": "[CRPU]""#);
        s.add_filter(r"(?m)^(duration +).*$", "$1[DURATION]");
        s.add_filter(r"(?m)^(billed +)[0-9.]+ CRPU", "$1[CRPU] CRPU");
        // The local runtime doctor found: versions and paths of this machine.
        s.add_filter(r"(?m)^(ok +local runtime +).*$", "$1[RUNTIME]");
        s.add_filter(
            r#""detail": "pyspark (?:[^"\\]|\\.)*""#,
            r#""detail": "[RUNTIME]""#,
        );
        // A table's columns are as wide as its widest cell, which holds a temporary path: one
        // gap between columns, whatever its width (indentation at the start of a line stays).
        if self.columns {
            s.add_filter(r"(\S)  +", "$1  ");
        }
        s
    }
}

/// Asserts that a run's exit status, stdout and stderr (rendered by [`render`]) equal the
/// committed snapshot `name`, after `filters`: `assert_run!(filters, "name", run)`. A macro, so
/// that the snapshot is named after, and stored next to, the calling test module.
macro_rules! assert_run {
    ($filters:expr, $name:expr, $run:expr) => {{
        let text = $crate::common::snap::render(&$run);
        $filters.settings().bind(|| insta::assert_snapshot!($name, text));
    }};
}
pub(crate) use assert_run;

/// Like [`assert_run`], for a text the test rendered itself.
macro_rules! assert_text {
    ($filters:expr, $name:expr, $text:expr) => {{
        let text: String = $text;
        $filters.settings().bind(|| insta::assert_snapshot!($name, text));
    }};
}
pub(crate) use assert_text;

/// Runs a command twice, as `$run(ARGS)` and as `$run(["--json", ARGS…])`, checks that both exit
/// with `$code`, and asserts them against the snapshots `$name` and `${name}_json`:
/// `assert_both!(filters, "check", 0, |a: &[&str]| run_in(&dir, a), &["check"])`.
macro_rules! assert_both {
    ($filters:expr, $name:literal, $code:expr, $run:expr, $args:expr) => {{
        let args: &[&str] = $args;
        let json: Vec<&str> = std::iter::once("--json").chain(args.iter().copied()).collect();
        $crate::common::snap::assert_run!($filters, $name, ($run)(args).expect($code));
        $crate::common::snap::assert_run!($filters, concat!($name, "_json"), ($run)(&json[..]).expect($code));
    }};
}
pub(crate) use assert_both;
