//! What a review page shows: the verification, the entry point's code with its findings and the
//! places it reads tables and parameters, the additional artifact's inventory, the policy, and
//! when and by which crpack it was made.

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::report::VerifyReport;
use crate::review::highlight::{self, Class};

/// Everything one review shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewDocument {
    pub report: VerifyReport,
    /// The entry point's text, when its bytes were at hand and are UTF-8.
    pub entry_point: Option<EntryPointView>,
    /// What the additional artifact holds, when its bytes were at hand.
    pub inventory: Option<Inventory>,
    /// `--policy`: the file and what it found.
    pub policy: Option<PolicyResult>,
    pub crpack_version: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
}

/// The entry point as a reviewer reads it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryPointView {
    /// The artifact's file name.
    pub file: String,
    pub source: String,
    /// The static check's findings (with lines where they have one).
    pub diagnostics: Vec<Diagnostic>,
    /// Where each referenced table and parameter name appears.
    pub reads: Vec<Read>,
}

/// What a name read by the code stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    Table,
    Parameter,
}

/// The lines where a referenced table's or a parameter's name appears as a string literal
/// (`context["referencedTables"]["orders"]`, `params["since"]`, or an alias's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Read {
    pub kind: ReadKind,
    pub name: String,
    /// 1-based, ascending; empty when the code never names it.
    pub lines: Vec<usize>,
}

/// The additional artifact's contents.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inventory {
    /// A virtual environment: its installed distributions and the project's own modules.
    Environment {
        distributions: Vec<Distribution>,
        own_modules: Vec<String>,
    },
    /// Any other archive: its entries.
    Archive { entries: Vec<ArchiveEntry> },
}

/// One installed distribution of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    /// From METADATA (`License-Expression`, else `License`, else a `License ::` classifier).
    pub license: Option<String>,
    /// Ships compiled extension modules.
    pub native: bool,
}

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveEntry {
    pub name: String,
    pub size: u64,
}

/// What `--policy` found.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub file: String,
    pub violations: Vec<String>,
}

impl EntryPointView {
    /// The view of `source`, with the places each of `tables` and `parameters` is named.
    pub fn new(
        file: String,
        source: String,
        diagnostics: Vec<Diagnostic>,
        tables: &[String],
        parameters: &[String],
    ) -> Self {
        let reads = reads(&source, tables, parameters);
        Self {
            file,
            source,
            diagnostics,
            reads,
        }
    }
}

/// For each name, the lines where it appears as a whole string literal.
fn reads(source: &str, tables: &[String], parameters: &[String]) -> Vec<Read> {
    let literals: Vec<(String, usize)> = highlight::spans(source)
        .into_iter()
        .filter(|s| s.class == Class::String)
        .filter_map(|s| {
            let text = &source[s.start..s.end];
            let line = source[..s.start].matches('\n').count() + 1;
            literal_value(text).map(|v| (v, line))
        })
        .collect();
    let lines_of = |name: &str| -> Vec<usize> {
        let mut lines: Vec<usize> = literals
            .iter()
            .filter(|(v, _)| v == name)
            .map(|(_, l)| *l)
            .collect();
        lines.dedup();
        lines
    };
    tables
        .iter()
        .map(|t| (ReadKind::Table, t))
        .chain(parameters.iter().map(|p| (ReadKind::Parameter, p)))
        .map(|(kind, name)| Read {
            kind,
            name: name.clone(),
            lines: lines_of(name),
        })
        .collect()
}

/// The value of a plain one-line string literal (`'x'`, `"x"`, `r"x"`, `b'x'`); `None` for
/// f-strings, concatenations, triple quotes and literals with escapes.
fn literal_value(text: &str) -> Option<String> {
    let body = text.trim_start_matches(['r', 'R', 'u', 'U', 'b', 'B']);
    let quote = body.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = body.strip_prefix(quote)?.strip_suffix(quote)?;
    if inner.contains(quote) || inner.contains('\\') || inner.contains('\n') {
        return None;
    }
    Some(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_every_line_a_name_is_a_literal() {
        let src = "def entrypoint(context):\n    t = context[\"referencedTables\"]\n    o = t['orders']\n    \
                   p = context['analysisParameters'].get(\"since\", 'x')\n    return {'results': {'orders': o}}\n";
        let got = reads(src, &["orders".into(), "customers".into()], &["since".into()]);
        assert_eq!(
            got,
            [
                Read {
                    kind: ReadKind::Table,
                    name: "orders".into(),
                    lines: vec![3, 5],
                },
                Read {
                    kind: ReadKind::Table,
                    name: "customers".into(),
                    lines: vec![],
                },
                Read {
                    kind: ReadKind::Parameter,
                    name: "since".into(),
                    lines: vec![4],
                },
            ]
        );
    }

    #[test]
    fn only_plain_literals_count() {
        assert_eq!(literal_value("'orders'"), Some("orders".into()));
        assert_eq!(literal_value("r\"orders\""), Some("orders".into()));
        assert_eq!(literal_value("f\"{x}\""), None);
        assert_eq!(literal_value("'a\\'b'"), None);
        assert_eq!(literal_value("'''x'''"), None);
    }
}
