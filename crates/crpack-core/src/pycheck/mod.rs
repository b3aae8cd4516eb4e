//! Static checks of a PySpark entry point, run by `crpack check`.
//!
//! The checks follow the Clean Rooms user-script contract: a module-level
//! `def entrypoint(context)`, no network access, no RDD / SparkContext / streaming / UDTF use,
//! a `{"results": {...}}` return value, and table and parameter names that match what the
//! template declares. They are a lint, not a guarantee: Python is dynamic, so a finding is a
//! strong hint and the absence of findings proves nothing.
//!
//! # Why tree-sitter
//!
//! The script is parsed with [`tree-sitter`](https://tree-sitter.github.io/) and the
//! `tree-sitter-python` grammar, a real Python parser rather than regular expressions, so words
//! inside strings and comments never count. tree-sitter-python is maintained (it is the grammar
//! GitHub and most editors use), it is error tolerant (it reports every syntax error with its
//! position and still yields a tree the other checks can use), and it builds here. The
//! alternatives are worse: `rustpython-parser` is unmaintained, and `ruff_python_parser` on
//! crates.io is an unofficial, unversioned republish of Ruff's internal crate.
//!
//! The grammar is more lenient than CPython in a few places, so the `syntax` submodule adds the
//! checks it lacks: inconsistent indentation, empty blocks, and Python 2 `print`/`exec`
//! statements. An ERROR node is reported once, at the unclosed or mismatched bracket inside it
//! if there is one (brackets are matched over the whole file, like CPython's tokenizer), else
//! at its start.
//!
//! # Rules worth knowing
//!
//! - The entry point is a `def entrypoint` whose scope is the module (directly, or inside a
//!   module-level `if`/`try`); decorators are fine. `async def` does not count (Clean Rooms
//!   would get a coroutine), nor does a method or a nested function. It takes exactly one
//!   positional parameter, with or without annotation or default. If it is defined more than
//!   once, the last definition is the one checked.
//! - Table and parameter reads are found as `X["referencedTables"]` / `X.get(...)` for any `X`,
//!   and through variables assigned from them (`t = ...`, `t = (...) or {}`, `a, b = ...`,
//!   `(t := ...)`, `t2 = t`). Aliases are file-wide and flow-insensitive. Keys may be string
//!   literals or module constants bound exactly once to one. Truth tests (`if t:`,
//!   `t is None`) are neutral; anything else (iteration, passing the dict on, a computed key)
//!   is dynamic access.
//! - `urllib.parse` is not a network import: it only manipulates strings.
//!
//! # Positions
//!
//! tree-sitter reports 0-based rows and *byte* columns; diagnostics use 1-based lines and
//! columns counted in characters (Unicode scalar values), so a non-ASCII character before a
//! finding counts once. A leading UTF-8 byte-order mark is ignored.
//!
//! # What is checked (codes)
//!
//! Errors: `syntax`, `missing-entrypoint`, `entrypoint-signature`, `undeclared-table`,
//! `undeclared-parameter`, `network-import`, `rdd`, `spark-context`, `streaming`, `udtf`.
//! Warnings: `entrypoint-redefined`, `unused-table`, `unused-parameter`,
//! `dynamic-table-access`, `dynamic-parameter-access`, `no-return`, `results-key`.
//!
//! When the file has syntax errors, findings about something being *absent*
//! (`missing-entrypoint`, `no-return`, `unused-table`, `unused-parameter`) are not reported,
//! because the broken part may be exactly what is missing.
//!
//! # Layout
//!
//! This module parses the file and holds what the checks share (positions, the tree walk, the
//! `Checker` that collects diagnostics); `syntax` checks what the grammar lets through,
//! `entry` the entry point and its return value, `imports` network imports and Spark features,
//! `tables` the reads of `referencedTables` and `analysisParameters`.

mod entry;
mod imports;
mod syntax;
mod tables;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use tree_sitter::{Node, Parser};

use crate::diagnostic::Diagnostic;

/// What the template declares, as configured in `crpack.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    /// `schema.referencedTables`: the table names the script may read.
    pub tables: &'a [String],
    /// The names of `analysisParameters`.
    pub parameters: &'a [String],
}

/// The result of checking one entry point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyCheck {
    /// Findings sorted by position; findings without a position come last.
    pub diagnostics: Vec<Diagnostic>,
    /// Every table name the script reads with a literal key, declared or not.
    pub tables_used: BTreeSet<String>,
    /// Every parameter name the script reads with a literal key, declared or not.
    pub parameters_used: BTreeSet<String>,
}

/// The tree-sitter syntax tree of the Python `text`; `None` only when the grammar cannot be
/// loaded (any text parses, errors becoming `ERROR` nodes).
pub(crate) fn parse_python(text: &str) -> Option<tree_sitter::Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()
        .and_then(|()| parser.parse(text, None))
}

/// Checks a PySpark entry point. `file` is the path shown in diagnostics (e.g.
/// `"src/entrypoint.py"`).
pub fn check_entry_point(file: &str, source: &str, declared: &Declared) -> PyCheck {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let Some(tree) = parse_python(text) else {
        // Only happens if the grammar cannot be loaded; never for any input text.
        return PyCheck {
            diagnostics: vec![Diagnostic::error(
                "syntax",
                file,
                "the Python parser could not be initialised; the entry point was not checked",
            )],
            ..PyCheck::default()
        };
    };
    let root = tree.root_node();
    let mut nodes = Vec::new();
    walk(root, |n| {
        nodes.push(n);
        true
    });
    let mut parents = HashMap::with_capacity(nodes.len());
    for &node in &nodes {
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            parents.insert(child.id(), node);
        }
    }
    let mut checker = Checker {
        file,
        src: Src { text },
        parents,
        diags: Vec::new(),
    };

    checker.check_syntax(root);
    let broken = !checker.diags.is_empty();
    let entry = checker.check_entrypoint(root, &nodes, broken);
    if let Some(def) = entry {
        checker.check_returns(def, broken);
    }
    checker.check_imports(&nodes);
    checker.check_spark(&nodes);
    let (tables_used, parameters_used) = checker.check_dicts(&nodes, declared, broken);
    checker.finish(tables_used, parameters_used)
}

/// The source text and position arithmetic.
struct Src<'s> {
    text: &'s str,
}

impl Src<'_> {
    fn text(&self, node: Node<'_>) -> &str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    /// The 1-based line and character column where `node` starts.
    fn pos(&self, node: Node<'_>) -> (usize, usize) {
        let point = node.start_position();
        let start = node.start_byte();
        let line_start = start.saturating_sub(point.column);
        let column = self
            .text
            .get(line_start..start)
            .map_or(point.column, |s| s.chars().count());
        (point.row + 1, column + 1)
    }

    /// The byte offset where the line containing `byte` starts.
    fn line_start(&self, byte: usize) -> usize {
        self.text
            .get(..byte)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1)
    }

    /// The indentation before `byte`, as CPython measures it (widths with tab stops of 8 and
    /// of 1), or `None` when something other than whitespace precedes it on its line.
    fn indent_width(&self, byte: usize) -> Option<(usize, usize)> {
        let prefix = self.text.get(self.line_start(byte)..byte)?;
        let (mut tab8, mut tab1) = (0, 0);
        for c in prefix.chars() {
            match c {
                ' ' => {
                    tab8 += 1;
                    tab1 += 1;
                }
                '\t' => {
                    tab8 = (tab8 / 8 + 1) * 8;
                    tab1 += 1;
                }
                '\x0c' => {
                    tab8 = 0;
                    tab1 = 0;
                }
                _ => return None,
            }
        }
        Some((tab8, tab1))
    }

    /// The indentation of the line containing `byte`.
    fn line_indent(&self, byte: usize) -> Option<(usize, usize)> {
        let start = self.line_start(byte);
        let rest = self.text.get(start..)?;
        let indent = rest.len() - rest.trim_start_matches([' ', '\t', '\x0c']).len();
        self.indent_width(start + indent)
    }
}

/// Visits `root` and its descendants in source order; `visit` returns whether to descend.
/// Iterative, so deeply nested expressions cannot overflow the stack.
fn walk<'t>(root: Node<'t>, mut visit: impl FnMut(Node<'t>) -> bool) {
    let mut cursor = root.walk();
    // Tracked here because `TreeCursor::depth` costs time proportional to the depth.
    let mut depth = 0usize;
    loop {
        if visit(cursor.node()) && cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        loop {
            if depth == 0 {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            cursor.goto_parent();
            depth -= 1;
        }
    }
}

/// Whether `child` is (one of) `parent`'s `field` children.
fn field_is<'t>(parent: Node<'t>, field: &str, child: Node<'t>) -> bool {
    let mut cursor = parent.walk();
    parent
        .children_by_field_name(field, &mut cursor)
        .any(|c| c.id() == child.id())
}

/// The named children of `node`, without comments.
fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| !c.is_extra())
        .collect()
}

struct Checker<'t> {
    file: &'t str,
    src: Src<'t>,
    /// Every node's parent, by node id: `Node::parent` searches down from the root each time.
    parents: HashMap<usize, Node<'t>>,
    diags: Vec<Diagnostic>,
}

impl<'t> Checker<'t> {
    fn parent(&self, node: Node<'t>) -> Option<Node<'t>> {
        self.parents.get(&node.id()).copied()
    }

    /// The class or function `node` is nested in, if any.
    fn enclosing_scope(&self, node: Node<'t>) -> Option<Node<'t>> {
        let mut current = self.parent(node);
        while let Some(p) = current {
            if matches!(p.kind(), "function_definition" | "class_definition") {
                return Some(p);
            }
            current = self.parent(p);
        }
        None
    }

    fn error_at(&mut self, code: &'static str, node: Node<'t>, message: impl Into<String>) {
        let (line, column) = self.src.pos(node);
        self.diags
            .push(Diagnostic::error(code, self.file, message).at(line, column));
    }

    fn warning_at(&mut self, code: &'static str, node: Node<'t>, message: impl Into<String>) {
        let (line, column) = self.src.pos(node);
        self.diags
            .push(Diagnostic::warning(code, self.file, message).at(line, column));
    }

    fn finish(self, tables_used: BTreeSet<String>, parameters_used: BTreeSet<String>) -> PyCheck {
        let mut diagnostics = self.diags;
        diagnostics.sort_by(|a, b| {
            (a.line.is_none(), a.line, a.column, a.severity, a.code).cmp(&(
                b.line.is_none(),
                b.line,
                b.column,
                b.severity,
                b.code,
            ))
        });
        PyCheck {
            diagnostics,
            tables_used,
            parameters_used,
        }
    }

    /// The string value of a plain literal: `"x"`, `'x'`, `r"x"`, `f"x"` without
    /// placeholders, or an implicit concatenation of those. Escapes and bytes give `None`.
    fn literal_str(&self, node: Node<'t>) -> Option<String> {
        let mut node = node;
        while node.kind() == "parenthesized_expression" {
            match named_children(node).as_slice() {
                [inner] => node = *inner,
                _ => return None,
            }
        }
        match node.kind() {
            "string" => {
                let mut value = String::new();
                let mut raw = false;
                for child in named_children(node) {
                    match child.kind() {
                        "string_start" => {
                            let prefix = self.src.text(child).to_ascii_lowercase();
                            if prefix.contains('b') {
                                return None;
                            }
                            raw = prefix.contains('r');
                        }
                        "string_content" => {
                            if !raw && child.named_child_count() > 0 {
                                return None;
                            }
                            value.push_str(self.src.text(child));
                        }
                        "string_end" => {}
                        _ => return None,
                    }
                }
                Some(value)
            }
            "concatenated_string" => named_children(node)
                .into_iter()
                .map(|s| self.literal_str(s))
                .collect(),
            _ => None,
        }
    }
}
