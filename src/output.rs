//! Output: results on stdout (human text, or one JSON document with `--json`), logs and
//! progress on stderr. Colour only on a terminal, never when `NO_COLOR` is set.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// How the user asked for output.
#[derive(Debug, Clone)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    color_out: bool,
    color_err: bool,
    progress: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool, verbose: u8, color: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let err_tty = std::io::stderr().is_terminal();
        Self {
            json,
            quiet,
            verbose,
            color_out: decide(std::io::stdout().is_terminal()),
            color_err: decide(err_tty),
            progress: err_tty && !json && !quiet,
        }
    }

    /// Plain output for tests and libraries: no colour, no progress.
    pub fn plain(json: bool) -> Self {
        Self {
            json,
            quiet: false,
            verbose: 0,
            color_out: false,
            color_err: false,
            progress: false,
        }
    }

    /// No output at all (for library callers that print their own summary).
    pub fn silent() -> Self {
        Self {
            quiet: true,
            ..Self::plain(true)
        }
    }

    /// Whether progress bars should be drawn (stderr is a terminal, not `--json`/`-q`).
    pub fn show_progress(&self) -> bool {
        self.progress
    }

    /// A line of the human result on stdout (ignored with `--json`).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", text.as_ref());
        }
    }

    /// A progress or status message on stderr (silenced by `-q`).
    pub fn info(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A detail shown with `-v`.
    pub fn debug(&self, text: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", self.dim_err(text.as_ref()));
        }
    }

    /// A warning on stderr (shown even with `-q`). Control and format characters in the text
    /// are escaped (line breaks and tabs kept): warnings quote names and service messages.
    pub fn warn(&self, text: impl AsRef<str>) {
        let label = self.paint_err(
            "warning",
            Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
        );
        eprintln!("{label}: {}", escape_text(text.as_ref()));
    }

    /// An error on stderr, escaped like [`Output::warn`].
    pub fn error(&self, text: impl AsRef<str>) {
        let label = self.paint_err("error", Style::new().bold().fg_color(Some(AnsiColor::Red.into())));
        eprintln!("{label}: {}", escape_text(text.as_ref()));
    }

    /// The JSON result document on stdout (only with `--json`).
    pub fn json<T: Serialize>(&self, value: &T) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, value);
            let _ = writeln!(out);
        }
    }

    fn paint(enabled: bool, text: &str, style: Style) -> String {
        if enabled {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn paint_err(&self, text: &str, style: Style) -> String {
        Self::paint(self.color_err, text, style)
    }

    fn dim_err(&self, text: &str) -> String {
        Self::paint(self.color_err, text, Style::new().dimmed())
    }

    /// Green text on stdout (for "ok"/"match").
    pub fn good(&self, text: &str) -> String {
        Self::paint(
            self.color_out,
            text,
            Style::new().bold().fg_color(Some(AnsiColor::Green.into())),
        )
    }

    /// Red text on stdout (for "mismatch"/"failed").
    pub fn bad(&self, text: &str) -> String {
        Self::paint(
            self.color_out,
            text,
            Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        )
    }

    /// Yellow text on stdout (for flags worth a second look).
    pub fn caution(&self, text: &str) -> String {
        Self::paint(
            self.color_out,
            text,
            Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
        )
    }

    /// Bold text on stdout.
    pub fn strong(&self, text: &str) -> String {
        Self::paint(self.color_out, text, Style::new().bold())
    }

    /// A progress bar for `total` bytes on stderr, hidden unless progress is shown.
    pub fn byte_bar(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

/// Formats a byte count for humans (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Renders rows as left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_humans() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["aaa".to_string(), "b".to_string(), "c".to_string()],
        ];
        assert_eq!(table(&rows), ["a    bb  c", "aaa  b   c"]);
    }
}

/// Whether `c` is a control (Unicode category Cc) or format character (Cf: bidirectional
/// overrides and isolates, zero-width characters, soft hyphen, tags and the like), which can
/// make a printed name look like another.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1F | 0x7F..=0x9F // Cc
        | 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// A name from an archive, an S3 key or a service response, safe to print: every control and
/// format character is shown as `\u{XXXX}`, so nothing can reorder or hide what follows.
pub fn escape(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.chars().any(is_invisible) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Free text that may span lines (an error, a warning), safe to print: like [`escape`], but line
/// feeds and tabs are kept as they are.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| is_invisible(c) && !matches!(c, '\n' | '\t');
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod escape_tests {
    use super::{escape, escape_text};

    #[test]
    fn text_keeps_its_lines() {
        assert_eq!(escape_text("a\n\tb"), "a\n\tb");
        assert_eq!(
            escape_text("x\u{202E}y\r\x1b[2J\n"),
            "x\\u{202E}y\\u{000D}\\u{001B}[2J\n"
        );
    }

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(escape("plain/name.py"), "plain/name.py");
        assert_eq!(escape("evil4\u{202E}gnp.py"), "evil4\\u{202E}gnp.py");
        assert_eq!(escape("a\nb\x1b[31m"), "a\\u{000A}b\\u{001B}[31m");
        assert_eq!(escape("zero\u{200B}width\u{2066}"), "zero\\u{200B}width\\u{2066}");
        assert_eq!(escape("café"), "café");
    }
}
