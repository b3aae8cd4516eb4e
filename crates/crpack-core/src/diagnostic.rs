//! Findings of `crpack check`: errors block, warnings inform.

use std::fmt;

use serde::Serialize;

/// How serious a finding is. Errors make `check` (and everything built on it) fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located in a file when it has a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable kebab-case identifier, e.g. `network-import`.
    pub code: &'static str,
    /// The file the finding is about, as the user named it (relative to the project).
    pub file: String,
    /// 1-based line, when the finding has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (in characters), when the finding has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn error(code: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn warning(code: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, message)
        }
    }

    /// Places the finding at a 1-based line and column.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[code]: message`, the shape compilers and editors understand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}[{}]: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_location_when_known() {
        let d = Diagnostic::error("syntax", "src/a.py", "bad").at(3, 7);
        assert_eq!(d.to_string(), "src/a.py:3:7: error[syntax]: bad");
        let w = Diagnostic::warning("unused-table", "crpack.toml", "unused");
        assert_eq!(w.to_string(), "crpack.toml: warning[unused-table]: unused");
    }
}
