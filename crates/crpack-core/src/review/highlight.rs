//! Python source as classified spans, for the HTML review: keywords, strings, comments, numbers,
//! the names a `def` or `class` introduces, and builtin constants. The parser is tree-sitter's
//! Python grammar (the same one the static checks use), so a broken file still highlights what
//! parses.

use tree_sitter::Node;

/// What a span of source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Keyword,
    String,
    Comment,
    Number,
    /// The name a `def` or `class` introduces.
    Definition,
    /// `None`, `True`, `False`.
    Constant,
}

impl Class {
    /// The CSS class the review page styles.
    pub fn css(self) -> &'static str {
        match self {
            Class::Keyword => "kw",
            Class::String => "st",
            Class::Comment => "cm",
            Class::Number => "nu",
            Class::Definition => "df",
            Class::Constant => "co",
        }
    }
}

/// A classified byte range of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub class: Class,
}

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
    "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "match", "case",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "print", "exec",
];

/// The classified spans of `source`, sorted and not overlapping. Empty when the grammar cannot be
/// loaded (the page then shows plain text).
pub fn spans(source: &str) -> Vec<Span> {
    let Some(tree) = crate::pycheck::parse_python(source) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    visit(tree.root_node(), source, &mut out);
    out.sort_by_key(|s| (s.start, s.end));
    // A string's pieces are covered by the string itself: keep the outermost span.
    let mut merged: Vec<Span> = Vec::with_capacity(out.len());
    for s in out {
        match merged.last() {
            Some(last) if s.start < last.end => {}
            _ => merged.push(s),
        }
    }
    merged
}

fn visit(node: Node<'_>, source: &str, out: &mut Vec<Span>) {
    let kind = node.kind();
    let class = match kind {
        "comment" => Some(Class::Comment),
        // A whole string literal, prefix and quotes included; f-string fields stay inside it.
        "string" | "concatenated_string" => Some(Class::String),
        "integer" | "float" => Some(Class::Number),
        "none" | "true" | "false" => Some(Class::Constant),
        _ if !node.is_named() && KEYWORDS.contains(&kind) => Some(Class::Keyword),
        "identifier" => {
            let defines = node.parent().is_some_and(|p| {
                matches!(p.kind(), "function_definition" | "class_definition")
                    && p.child_by_field_name("name").is_some_and(|n| n.id() == node.id())
            });
            defines.then_some(Class::Definition)
        }
        _ => None,
    };
    if let Some(class) = class
        && node.end_byte() <= source.len()
        && node.start_byte() < node.end_byte()
    {
        out.push(Span {
            start: node.start_byte(),
            end: node.end_byte(),
            class,
        });
        if matches!(class, Class::String | Class::Comment) {
            return;
        }
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        visit(child, source, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(source: &str) -> Vec<(&str, Class)> {
        spans(source)
            .into_iter()
            .map(|s| (&source[s.start..s.end], s.class))
            .collect()
    }

    #[test]
    fn keywords_strings_comments_numbers_and_definitions() {
        let src = "def entrypoint(context):\n    # read\n    n = 3.5\n    return {\"results\": None}\n";
        assert_eq!(
            classes(src),
            [
                ("def", Class::Keyword),
                ("entrypoint", Class::Definition),
                ("# read", Class::Comment),
                ("3.5", Class::Number),
                ("return", Class::Keyword),
                ("\"results\"", Class::String),
                ("None", Class::Constant),
            ]
        );
    }

    #[test]
    fn strings_are_one_span_even_with_fields_and_prefixes() {
        let src = "x = f\"a{b!r}c\" 'd'\n";
        let got = classes(src);
        assert_eq!(got, [("f\"a{b!r}c\" 'd'", Class::String)]);
    }

    #[test]
    fn broken_source_still_gets_spans_and_never_panics() {
        let src = "def f(:\n  return 'x\n\u{202e}# é\n";
        let got = spans(src);
        assert!(got.iter().all(|s| s.start < s.end && s.end <= src.len()));
        assert!(got.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(src.is_char_boundary(got[0].start));
    }
}
