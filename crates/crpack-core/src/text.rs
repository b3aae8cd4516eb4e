//! Text for people: byte counts, and names made safe to print (controls and bidirectional
//! format characters escaped, so nothing can reorder or hide what follows).

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
    escape_where(name, is_invisible)
}

/// Free text that may span lines (an error, a warning), safe to print: like [`escape`], but line
/// feeds and tabs are kept as they are.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    escape_where(text, |c| is_invisible(c) && !matches!(c, '\n' | '\t'))
}

/// `text` with every character for which `hidden` holds shown as `\u{XXXX}`.
fn escape_where(text: &str, hidden: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(&hidden) {
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

#[cfg(test)]
mod bytes_tests {
    use super::human_bytes;

    #[test]
    fn bytes_for_humans() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }
}
