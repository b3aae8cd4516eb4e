//! Syntax errors: tree-sitter's ERROR and MISSING nodes, plus the errors its grammar accepts
//! but CPython rejects (indentation mistakes, Python 2 statements).

use tree_sitter::Node;

use super::{Checker, walk};
use crate::diagnostic::Diagnostic;

/// A syntax error: its 1-based line and column, and the message.
type Found = ((usize, usize), String);

/// Compound-statement keywords whose header line must end with `:`.
const BLOCK_KEYWORDS: &[&str] = &[
    "if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally",
];

impl<'t> Checker<'t> {
    /// Reports every syntax error in the tree as an Error `syntax`.
    pub(super) fn check_syntax(&mut self, root: Node<'t>) {
        let bad_brackets = self.bracket_problems(root);
        let mut found: Vec<Found> = Vec::new();
        walk(root, |node| {
            if node.is_error() {
                found.push(self.describe_error(node, &bad_brackets));
                // Nested ERROR nodes belong to the same mistake.
                return false;
            }
            if node.is_missing() {
                let what = if node.is_named() {
                    node.kind().replace('_', " ")
                } else {
                    format!("`{}`", node.kind())
                };
                found.push((self.src.pos(node), format!("missing {what}")));
                return false;
            }
            match node.kind() {
                "print_statement" => found.push((
                    self.src.pos(node),
                    "Python 2 `print` statement; Clean Rooms runs Python 3: write `print(...)`".to_string(),
                )),
                "exec_statement" => found.push((
                    self.src.pos(node),
                    "Python 2 `exec` statement; Clean Rooms runs Python 3 (and exec is best avoided)"
                        .to_string(),
                )),
                "module" | "block" => self.indentation(node, &mut found),
                _ => {}
            }
            true
        });
        found.sort();
        found.dedup();
        for ((line, column), message) in found {
            self.diags
                .push(Diagnostic::error("syntax", self.file, message).at(line, column));
        }
    }

    /// Brackets that never close or close the wrong opener, matched over the whole file like
    /// CPython's tokenizer does (brackets inside strings and comments are not tokens).
    fn bracket_problems(&self, root: Node<'t>) -> Vec<(Node<'t>, String)> {
        let mut stack: Vec<Node<'t>> = Vec::new();
        let mut problems = Vec::new();
        let mut stopped = false;
        walk(root, |node| {
            if stopped || node.is_named() || node.is_missing() || node.child_count() > 0 {
                return !stopped;
            }
            let kind = node.kind();
            match kind {
                "(" | "[" | "{" => stack.push(node),
                ")" | "]" | "}" => {
                    let opener = match kind {
                        ")" => "(",
                        "]" => "[",
                        _ => "{",
                    };
                    match stack.pop() {
                        Some(open) if open.kind() == opener => {}
                        Some(open) => {
                            let (line, _) = self.src.pos(open);
                            problems.push((
                                node,
                                format!(
                                    "closing `{kind}` does not match the opening `{}` on line {line}",
                                    open.kind()
                                ),
                            ));
                            stopped = true;
                        }
                        None => {
                            problems.push((node, format!("unmatched `{kind}`")));
                            stopped = true;
                        }
                    }
                }
                _ => {}
            }
            true
        });
        if !stopped {
            for open in stack {
                problems.push((open, format!("`{}` is never closed", open.kind())));
            }
        }
        problems.sort_by_key(|(n, _)| n.start_byte());
        problems
    }

    /// Where and why an ERROR node went wrong, as precisely as the tree allows.
    fn describe_error(&self, node: Node<'t>, bad_brackets: &[(Node<'t>, String)]) -> Found {
        if let Some((bracket, message)) = bad_brackets
            .iter()
            .find(|(b, _)| b.start_byte() >= node.start_byte() && b.start_byte() < node.end_byte())
        {
            return (self.src.pos(*bracket), message.clone());
        }
        let text = self.src.text(node);
        if text.starts_with(['"', '\'']) {
            return (self.src.pos(node), "unterminated string literal".to_string());
        }
        let first_line = text.lines().next().unwrap_or("").trim_end();
        if let Some(first) = node.child(0)
            && !first.is_named()
            && BLOCK_KEYWORDS.contains(&first.kind())
            && !first_line.ends_with(':')
            && !first_line.contains('#')
            && balanced(first_line)
        {
            let (line, column) = self.src.pos(node);
            let column = column + first_line.chars().count();
            let message = format!("expected `:` at the end of the `{}` line", first.kind());
            return ((line, column), message);
        }
        let mut snippet: String = first_line.trim().chars().take(40).collect();
        if first_line.trim().chars().count() > 40 {
            snippet.push('…');
        }
        if snippet.is_empty() {
            return (self.src.pos(node), "invalid syntax".to_string());
        }
        (self.src.pos(node), format!("invalid syntax near `{snippet}`"))
    }

    /// Indentation rules tree-sitter-python does not enforce: statements of one block start at
    /// the same indentation, module-level statements at none, and a block is never empty.
    fn indentation(&self, node: Node<'t>, found: &mut Vec<Found>) {
        if node.kind() == "block" && node.named_child_count() == 0 && node.byte_range().is_empty() {
            let parent = self.parent(node);
            let parent_broken = parent.is_some_and(|p| {
                let mut cursor = p.walk();
                p.children(&mut cursor).any(|c| c.is_error() || c.is_missing())
            });
            if !parent_broken {
                let line = parent.map_or(0, |p| p.start_position().row + 1);
                found.push((
                    self.src.pos(node),
                    format!("expected an indented block after the `:` on line {line}"),
                ));
            }
            return;
        }
        let children: Vec<Node<'t>> = {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .filter(|c| !c.is_extra() || c.is_error())
                .collect()
        };
        // Error recovery leaves the statements around an ERROR node wherever it could.
        if children.iter().any(|c| c.is_error() || c.is_missing()) {
            return;
        }
        let mut reference: Option<(usize, usize)> = if node.kind() == "module" {
            Some((0, 0))
        } else {
            None
        };
        let mut previous: Option<Node<'t>> = None;
        for child in children {
            let before = previous.replace(child);
            let Some(width) = self.src.indent_width(child.start_byte()) else {
                continue;
            };
            let Some(expected) = reference else {
                reference = Some(width);
                continue;
            };
            // A line indented less than the line before it, but more than the block, is a
            // failed dedent rather than an extra indent.
            let above = before
                .and_then(|b| self.src.line_indent(b.end_byte()))
                .unwrap_or(expected);
            let message = if width.0 > expected.0 && width.1 > expected.1 {
                if width.0 < above.0 && width.1 < above.1 {
                    "unindent does not match any outer indentation level"
                } else {
                    "unexpected indent"
                }
            } else if width.0 < expected.0 && width.1 < expected.1 {
                "unindent does not match any outer indentation level"
            } else if width != expected {
                "inconsistent use of tabs and spaces in indentation"
            } else {
                continue;
            };
            found.push((self.src.pos(child), message.to_string()));
        }
    }
}

/// Whether a line's brackets balance (used only for the "expected `:`" hint).
fn balanced(line: &str) -> bool {
    let mut depth = 0i32;
    for c in line.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}
