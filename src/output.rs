//! Output: results on stdout (human text, or one JSON document with `--json`), logs and
//! progress on stderr. Colour only on a terminal, never when `NO_COLOR` is set.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

pub use crpack_core::text::{escape, escape_text, human_bytes, is_invisible};

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
    #[cfg(any(test, feature = "sandbox"))]
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
    #[cfg(feature = "sandbox")]
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

    /// The result: `value` as the JSON document with `--json`, otherwise what `human` prints.
    pub fn result<T: Serialize>(&self, value: &T, human: impl FnOnce()) {
        if self.json {
            self.json(value);
        } else {
            human();
        }
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

/// The core's long work reports through the same lines and bars as the commands.
impl crpack_core::progress::Reporter for Output {
    fn info(&self, message: &str) {
        Output::info(self, message);
    }
    fn warn(&self, message: &str) {
        Output::warn(self, message);
    }
    fn error(&self, message: &str) {
        Output::error(self, message);
    }
    fn debug(&self, message: &str) {
        Output::debug(self, message);
    }
    fn bytes(&self, total: u64, label: &str) -> std::sync::Arc<dyn crpack_core::progress::Progress> {
        std::sync::Arc::new(ByteBar(self.byte_bar(total, label)))
    }
}

/// An indicatif bar as the core's byte meter.
struct ByteBar(indicatif::ProgressBar);

impl crpack_core::progress::Progress for ByteBar {
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn restart(&self) {
        self.0.set_position(0);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["aaa".to_string(), "b".to_string(), "c".to_string()],
        ];
        assert_eq!(table(&rows), ["a    bb  c", "aaa  b   c"]);
    }
}
