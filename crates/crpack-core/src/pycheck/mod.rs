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

mod syntax;
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

/// Checks a PySpark entry point. `file` is the path shown in diagnostics (e.g.
/// `"src/entrypoint.py"`).
pub fn check_entry_point(file: &str, source: &str, declared: &Declared) -> PyCheck {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut parser = Parser::new();
    let tree = parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()
        .and_then(|()| parser.parse(text, None));
    let Some(tree) = tree else {
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

// ---------------------------------------------------------------------------------------------
// The entry point and its return value
// ---------------------------------------------------------------------------------------------

impl<'t> Checker<'t> {
    /// Finds the module-level `def entrypoint`, checks its signature, and returns the one that
    /// Python would use (the last).
    fn check_entrypoint(&mut self, root: Node<'t>, nodes: &[Node<'t>], broken: bool) -> Option<Node<'t>> {
        let mut defs = Vec::new(); // module-level, sync
        let mut direct = Vec::new(); // the subset that are top-level statements
        let mut async_defs = Vec::new();
        let mut nested = Vec::new();
        for &node in nodes {
            if node.kind() != "function_definition" {
                continue;
            }
            let Some(name) = node.child_by_field_name("name") else {
                continue;
            };
            if self.src.text(name) != "entrypoint" {
                continue;
            }
            match self.enclosing_scope(node) {
                Some(scope) => nested.push((node, scope)),
                None if is_async(node) => async_defs.push(node),
                None => {
                    defs.push(node);
                    let statement = match self.parent(node) {
                        Some(p) if p.kind() == "decorated_definition" => p,
                        _ => node,
                    };
                    if self.parent(statement).is_some_and(|p| p.id() == root.id()) {
                        direct.push(node);
                    }
                }
            }
        }

        let Some(&entry) = defs.last() else {
            if broken {
                return None;
            }
            if let Some(&def) = async_defs.first() {
                let name = def.child_by_field_name("name").unwrap_or(def);
                self.error_at(
                    "missing-entrypoint",
                    name,
                    "`async def entrypoint` does not count: Clean Rooms calls `entrypoint(context)` \
                     synchronously and would get an un-awaited coroutine; define it with plain \
                     `def entrypoint(context):`",
                );
            } else if let Some(&(def, scope)) = nested.first() {
                let name = def.child_by_field_name("name").unwrap_or(def);
                let scope_name = scope
                    .child_by_field_name("name")
                    .map_or("?", |n| self.src.text(n));
                let scope_kind = if scope.kind() == "class_definition" {
                    "class"
                } else {
                    "function"
                };
                let message = format!(
                    "`entrypoint` is defined inside {scope_kind} `{scope_name}`, but Clean Rooms \
                     calls a module-level function; move `def entrypoint(context):` to the top \
                     level of the file"
                );
                self.error_at("missing-entrypoint", name, message);
            } else {
                self.diags.push(Diagnostic::error(
                    "missing-entrypoint",
                    self.file,
                    "no module-level `def entrypoint(context):` found; Clean Rooms calls the \
                     function named exactly `entrypoint` with one argument, the context dict; \
                     add it",
                ));
            }
            return None;
        };

        if let Some(&first) = direct.first() {
            let (first_line, _) = self.src.pos(first);
            for &later in direct.iter().skip(1) {
                let name = later.child_by_field_name("name").unwrap_or(later);
                let message = format!(
                    "`entrypoint` is defined again (first definition on line {first_line}); only \
                     the last definition is used; remove or rename the others"
                );
                self.warning_at("entrypoint-redefined", name, message);
            }
        }
        self.check_signature(entry);
        Some(entry)
    }

    /// `entrypoint` must take exactly one positional parameter (a default is harmless).
    fn check_signature(&mut self, def: Node<'t>) {
        let Some(params) = def.child_by_field_name("parameters") else {
            return;
        };
        let items: Vec<Node<'t>> = named_children(params)
            .into_iter()
            .filter(|p| p.kind() != "positional_separator")
            .collect();
        let ok = match items.as_slice() {
            [only] => match only.kind() {
                "identifier" | "default_parameter" | "typed_default_parameter" => true,
                "typed_parameter" => named_children(*only)
                    .first()
                    .is_some_and(|c| c.kind() == "identifier"),
                _ => false,
            },
            _ => false,
        };
        if !ok {
            let found = self.src.text(params).split_whitespace().collect::<Vec<_>>();
            let message = format!(
                "`entrypoint` must take exactly one positional parameter, the context dict, but \
                 its parameters are `{}`; change it to `def entrypoint(context):`",
                found.join(" ")
            );
            self.error_at("entrypoint-signature", params, message);
        }
    }

    /// Best-effort checks of what `entrypoint` returns.
    fn check_returns(&mut self, def: Node<'t>, broken: bool) {
        let Some(body) = def.child_by_field_name("body") else {
            return;
        };
        let mut returns = Vec::new();
        walk(body, |n| {
            if n.kind() == "return_statement" {
                returns.push(n);
            }
            !matches!(n.kind(), "function_definition" | "class_definition" | "lambda")
        });
        if returns.is_empty() {
            if !broken {
                let name = def.child_by_field_name("name").unwrap_or(def);
                self.warning_at(
                    "no-return",
                    name,
                    "`entrypoint` has no `return`; Clean Rooms expects it to return \
                     {\"results\": {\"<output name>\": <DataFrame>}}",
                );
            }
            return;
        }
        for ret in returns {
            let Some(mut value) = named_children(ret).first().copied() else {
                continue;
            };
            while value.kind() == "parenthesized_expression" {
                match named_children(value).as_slice() {
                    [inner] => value = *inner,
                    _ => break,
                }
            }
            if value.kind() != "dictionary" {
                continue;
            }
            let mut keys = Vec::new();
            let mut unknown = false;
            for item in named_children(value) {
                let key = (item.kind() == "pair")
                    .then(|| item.child_by_field_name("key"))
                    .flatten()
                    .and_then(|k| self.literal_str(k));
                match key {
                    Some(k) => keys.push(k),
                    None => unknown = true,
                }
            }
            if unknown || keys.iter().any(|k| k == "results") {
                continue;
            }
            let listed = if keys.is_empty() {
                "it is empty".to_string()
            } else {
                let quoted: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                format!("its keys are {}", quoted.join(", "))
            };
            let message = format!(
                "the dict returned by `entrypoint` has no \"results\" key ({listed}); Clean Rooms \
                 expects {{\"results\": {{\"<output name>\": <DataFrame>}}}}"
            );
            self.warning_at("results-key", value, message);
        }
    }
}

fn is_async<'t>(def: Node<'t>) -> bool {
    def.child(0).is_some_and(|c| c.kind() == "async")
}

// ---------------------------------------------------------------------------------------------
// Imports and Spark features
// ---------------------------------------------------------------------------------------------

/// Modules that reach the network. `urllib.parse` is exempt: it only manipulates strings.
const NETWORK_MODULES: &[&str] = &[
    "boto3",
    "botocore",
    "requests",
    "urllib",
    "urllib3",
    "http.client",
    "socket",
    "aiohttp",
    "httpx",
];

/// The forbidden module `module` falls under, if any.
fn network_module(module: &str) -> Option<&'static str> {
    if module == "urllib.parse" || module.starts_with("urllib.parse.") {
        return None;
    }
    NETWORK_MODULES
        .iter()
        .copied()
        .find(|m| module == *m || (module.starts_with(m) && module[m.len()..].starts_with('.')))
}

fn network_message(module: &str, root: &str) -> String {
    let why = if matches!(root, "boto3" | "botocore") {
        "Clean Rooms jobs have no network access and may not call S3, Glue or other AWS APIs \
         directly"
    } else {
        "Clean Rooms jobs have no network access"
    };
    format!(
        "import of `{module}`: {why}; remove it and read data only through \
         context[\"referencedTables\"]"
    )
}

/// Which Spark feature an imported module or name stands for, if it is an unsupported one.
fn spark_import(module: &str, name: Option<&str>) -> Option<(&'static str, String)> {
    let in_pkg = |pkg: &str| module == pkg || module.starts_with(&format!("{pkg}."));
    if in_pkg("pyspark.streaming") || in_pkg("pyspark.sql.streaming") {
        return Some(("streaming", streaming_message(module)));
    }
    if in_pkg("pyspark.sql.udtf") || (in_pkg("pyspark") && name == Some("udtf")) {
        return Some(("udtf", udtf_message()));
    }
    if in_pkg("pyspark") && name == Some("SparkContext") {
        return Some(("spark-context", spark_context_message("SparkContext")));
    }
    None
}

fn rdd_message() -> String {
    "`.rdd` converts to an RDD, and Clean Rooms does not support RDDs; use DataFrame operations \
     instead"
        .to_string()
}

fn spark_context_message(what: &str) -> String {
    format!(
        "`{what}` is not available in Clean Rooms (a job gets one managed Spark session and \
         SparkContext-level APIs are blocked); use the DataFrame and SQL APIs of \
         context[\"sparkSession\"]"
    )
}

fn streaming_message(what: &str) -> String {
    format!(
        "`{what}`: Spark Streaming is not supported in Clean Rooms; use batch DataFrames from \
         context[\"referencedTables\"]"
    )
}

fn udtf_message() -> String {
    "`udtf`: Python UDTFs are not supported in Clean Rooms; use DataFrame operations (e.g. \
     explode) or a scalar UDF"
        .to_string()
}

impl<'t> Checker<'t> {
    /// The dotted module name spelled by a `dotted_name` node, without spaces.
    fn dotted(&self, node: Node<'t>) -> String {
        self.src.text(node).split_whitespace().collect()
    }

    /// Network imports: `import X`, `from X import ...`, `__import__("X")`,
    /// `importlib.import_module("X")`.
    fn check_imports(&mut self, nodes: &[Node<'t>]) {
        for &node in nodes {
            match node.kind() {
                "import_statement" => {
                    let mut cursor = node.walk();
                    let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
                    for name in names {
                        let dotted = if name.kind() == "aliased_import" {
                            name.child_by_field_name("name").unwrap_or(name)
                        } else {
                            name
                        };
                        let module = self.dotted(dotted);
                        if let Some(root) = network_module(&module) {
                            self.error_at("network-import", dotted, network_message(&module, root));
                        } else if let Some((code, message)) = spark_import(&module, None) {
                            self.error_at(code, dotted, message);
                        }
                    }
                }
                "import_from_statement" => self.check_import_from(node),
                "call" => {
                    let Some(function) = node.child_by_field_name("function") else {
                        continue;
                    };
                    let callee = match function.kind() {
                        "identifier" => self.src.text(function),
                        "attribute" => function
                            .child_by_field_name("attribute")
                            .map_or("", |a| self.src.text(a)),
                        _ => "",
                    };
                    if !matches!(callee, "__import__" | "import_module") {
                        continue;
                    }
                    let Some(arg) = node
                        .child_by_field_name("arguments")
                        .and_then(|a| named_children(a).first().copied())
                    else {
                        continue;
                    };
                    let Some(module) = self.literal_str(arg) else {
                        continue;
                    };
                    if let Some(root) = network_module(&module) {
                        self.error_at("network-import", arg, network_message(&module, root));
                    }
                }
                _ => {}
            }
        }
    }

    fn check_import_from(&mut self, node: Node<'t>) {
        let Some(module_node) = node.child_by_field_name("module_name") else {
            return;
        };
        if module_node.kind() != "dotted_name" {
            return; // relative imports are the project's own modules
        }
        let module = self.dotted(module_node);
        if let Some(root) = network_module(&module) {
            self.error_at("network-import", module_node, network_message(&module, root));
            return;
        }
        if let Some((code, message)) = spark_import(&module, None) {
            self.error_at(code, module_node, message);
            return;
        }
        let mut cursor = node.walk();
        let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let dotted = if name.kind() == "aliased_import" {
                name.child_by_field_name("name").unwrap_or(name)
            } else {
                name
            };
            let imported = self.dotted(dotted);
            let full = format!("{module}.{imported}");
            if let Some(root) = network_module(&full) {
                self.error_at("network-import", dotted, network_message(&full, root));
            } else if let Some((code, message)) = spark_import(&module, Some(&imported)) {
                self.error_at(code, dotted, message);
            }
        }
    }

    /// `.rdd`, `.sparkContext`, `.readStream`/`.writeStream`, `.udtf`, and a bare `udtf` used
    /// as a decorator or called. Only attribute and identifier nodes count.
    fn check_spark(&mut self, nodes: &[Node<'t>]) {
        for &node in nodes {
            match node.kind() {
                "attribute" => {
                    let Some(attr) = node.child_by_field_name("attribute") else {
                        continue;
                    };
                    let name = self.src.text(attr);
                    let (code, message) = match name {
                        "rdd" => ("rdd", rdd_message()),
                        "sparkContext" => ("spark-context", spark_context_message(".sparkContext")),
                        "readStream" | "writeStream" => ("streaming", streaming_message(&format!(".{name}"))),
                        "udtf" => ("udtf", udtf_message()),
                        _ => continue,
                    };
                    self.error_at(code, attr, message);
                }
                "identifier" if self.src.text(node) == "udtf" => {
                    let Some(parent) = self.parent(node) else {
                        continue;
                    };
                    let used = match parent.kind() {
                        "decorator" => true,
                        "call" => field_is(parent, "function", node),
                        _ => false,
                    };
                    if used {
                        self.error_at("udtf", node, udtf_message());
                    }
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// referencedTables and analysisParameters
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DictKind {
    Tables,
    Params,
}

impl DictKind {
    fn from_key(key: &str) -> Option<Self> {
        match key {
            "referencedTables" => Some(Self::Tables),
            "analysisParameters" => Some(Self::Params),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Tables => "referencedTables",
            Self::Params => "analysisParameters",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Tables => "table",
            Self::Params => "parameter",
        }
    }

    /// The `crpack.toml` `[template]` key that declares these names.
    fn config_key(self) -> &'static str {
        match self {
            Self::Tables => "[template] referenced_tables",
            Self::Params => "[[template.parameters]]",
        }
    }

    fn undeclared_code(self) -> &'static str {
        match self {
            Self::Tables => "undeclared-table",
            Self::Params => "undeclared-parameter",
        }
    }

    fn unused_code(self) -> &'static str {
        match self {
            Self::Tables => "unused-table",
            Self::Params => "unused-parameter",
        }
    }

    fn dynamic_code(self) -> &'static str {
        match self {
            Self::Tables => "dynamic-table-access",
            Self::Params => "dynamic-parameter-access",
        }
    }
}

/// How an identifier occurrence is used.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    /// Read as a value.
    Load,
    /// Assigned, or declared as a parameter, loop variable, etc.
    Bind,
    /// Not a variable at all (an attribute name, a keyword argument name, part of an import).
    Other,
}

/// `(target, value)` pairs bound by an assignment or walrus: `a = b = v`, `a, b = x, y`.
fn binding_pairs<'t>(node: Node<'t>) -> Vec<(Node<'t>, Node<'t>)> {
    match node.kind() {
        "named_expression" => match (
            node.child_by_field_name("name"),
            node.child_by_field_name("value"),
        ) {
            (Some(name), Some(value)) => vec![(name, value)],
            _ => Vec::new(),
        },
        "assignment" => {
            let mut targets = Vec::new();
            let mut current = node;
            let value = loop {
                if let Some(left) = current.child_by_field_name("left") {
                    targets.push(left);
                }
                match current.child_by_field_name("right") {
                    Some(right) if right.kind() == "assignment" => current = right,
                    Some(right) => break right,
                    None => return Vec::new(),
                }
            };
            let mut pairs = Vec::new();
            for target in targets {
                if target.kind() == "identifier" {
                    pairs.push((target, value));
                } else if matches!(target.kind(), "pattern_list" | "tuple_pattern")
                    && matches!(value.kind(), "expression_list" | "tuple")
                {
                    let lefts = named_children(target);
                    let rights = named_children(value);
                    if lefts.len() == rights.len() {
                        pairs.extend(lefts.into_iter().zip(rights));
                    }
                }
            }
            pairs
        }
        _ => Vec::new(),
    }
}

/// What the file knows about the two dicts and string constants.
struct Bindings {
    /// Variables bound to one of the dicts.
    aliases: HashMap<String, DictKind>,
    /// Variables bound exactly once in the file, to a string literal.
    constants: HashMap<String, String>,
}

impl<'t> Checker<'t> {
    fn role(&self, node: Node<'t>) -> Role {
        let mut current = node;
        let mut parent = self.parent(node);
        while let Some(p) = parent {
            if matches!(
                p.kind(),
                "pattern_list"
                    | "tuple_pattern"
                    | "list_pattern"
                    | "list_splat_pattern"
                    | "dictionary_splat_pattern"
            ) {
                current = p;
                parent = self.parent(p);
            } else {
                break;
            }
        }
        let Some(p) = parent else {
            return Role::Load;
        };
        match p.kind() {
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause"
                if field_is(p, "left", current) =>
            {
                Role::Bind
            }
            "named_expression" if field_is(p, "name", current) => Role::Bind,
            "default_parameter" | "typed_default_parameter" if field_is(p, "name", current) => Role::Bind,
            "function_definition" | "class_definition" if field_is(p, "name", current) => Role::Bind,
            "aliased_import" if field_is(p, "alias", current) => Role::Bind,
            "as_pattern_target" | "parameters" | "lambda_parameters" | "typed_parameter" => Role::Bind,
            "attribute" if field_is(p, "attribute", current) => Role::Other,
            "keyword_argument" if field_is(p, "name", current) => Role::Other,
            "dotted_name" | "global_statement" | "nonlocal_statement" | "keyword_pattern" => Role::Other,
            _ => Role::Load,
        }
    }

    /// `X["referencedTables"]` or `X.get("referencedTables", ...)`, for any `X`.
    fn dict_root(&self, node: Node<'t>) -> Option<DictKind> {
        match node.kind() {
            "subscript" => {
                let mut cursor = node.walk();
                let keys: Vec<Node<'t>> = node.children_by_field_name("subscript", &mut cursor).collect();
                match keys.as_slice() {
                    [key] => DictKind::from_key(&self.literal_str(*key)?),
                    _ => None,
                }
            }
            "call" => {
                let function = node.child_by_field_name("function")?;
                if function.kind() != "attribute"
                    || self.src.text(function.child_by_field_name("attribute")?) != "get"
                {
                    return None;
                }
                let first = named_children(node.child_by_field_name("arguments")?)
                    .first()
                    .copied()?;
                DictKind::from_key(&self.literal_str(first)?)
            }
            _ => None,
        }
    }

    /// Which dict an expression evaluates to, if it is one of them.
    fn classify(&self, node: Node<'t>, aliases: &HashMap<String, DictKind>) -> Option<DictKind> {
        let mut node = node;
        loop {
            match node.kind() {
                "parenthesized_expression" => match named_children(node).as_slice() {
                    [inner] => node = *inner,
                    _ => return None,
                },
                "boolean_operator" if is_or(node) => node = node.child_by_field_name("left")?,
                "identifier" => return aliases.get(self.src.text(node)).copied(),
                _ => return self.dict_root(node),
            }
        }
    }

    fn bindings(&self, nodes: &[Node<'t>]) -> Bindings {
        let pairs: Vec<(Node<'t>, Node<'t>)> = nodes.iter().flat_map(|n| binding_pairs(*n)).collect();
        let mut aliases = HashMap::new();
        loop {
            let mut changed = false;
            for (target, value) in &pairs {
                let name = self.src.text(*target);
                if target.kind() != "identifier" || aliases.contains_key(name) {
                    continue;
                }
                if let Some(kind) = self.classify(*value, &aliases) {
                    aliases.insert(name.to_string(), kind);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut bound: HashMap<&str, usize> = HashMap::new();
        for &node in nodes {
            if node.kind() == "identifier" && self.role(node) == Role::Bind {
                *bound.entry(self.src.text(node)).or_default() += 1;
            }
        }
        let mut constants = HashMap::new();
        for (target, value) in &pairs {
            let name = self.src.text(*target);
            if target.kind() == "identifier"
                && bound.get(name) == Some(&1)
                && let Some(literal) = self.literal_str(*value)
            {
                constants.insert(name.to_string(), literal);
            }
        }
        Bindings { aliases, constants }
    }

    /// A key that is a literal, or a variable bound once to a literal.
    fn key_value(&self, node: Node<'t>, bindings: &Bindings) -> Option<String> {
        if node.kind() == "identifier" {
            return bindings.constants.get(self.src.text(node)).cloned();
        }
        self.literal_str(node)
    }

    /// Reads of `referencedTables` / `analysisParameters`: declared-ness, unused names, and
    /// dynamic uses.
    fn check_dicts(
        &mut self,
        nodes: &[Node<'t>],
        declared: &Declared,
        broken: bool,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let bindings = self.bindings(nodes);
        let mut uses: Vec<(DictKind, String, Node<'t>)> = Vec::new();
        let mut dynamic: Vec<(DictKind, Node<'t>)> = Vec::new();
        for &node in nodes {
            let kind = match node.kind() {
                "identifier" if self.role(node) == Role::Load => {
                    bindings.aliases.get(self.src.text(node)).copied()
                }
                "subscript" | "call" => self.dict_root(node),
                _ => None,
            };
            if let Some(kind) = kind {
                self.classify_use(node, kind, &bindings, &mut uses, &mut dynamic);
            }
        }

        let mut tables_used = BTreeSet::new();
        let mut parameters_used = BTreeSet::new();
        for (kind, name, node) in &uses {
            let (list, used) = match kind {
                DictKind::Tables => (declared.tables, &mut tables_used),
                DictKind::Params => (declared.parameters, &mut parameters_used),
            };
            used.insert(name.clone());
            if !list.iter().any(|d| d == name) {
                let message = undeclared_message(*kind, name, list);
                self.error_at(kind.undeclared_code(), *node, message);
            }
        }
        for kind in [DictKind::Tables, DictKind::Params] {
            let (list, used) = match kind {
                DictKind::Tables => (declared.tables, &tables_used),
                DictKind::Params => (declared.parameters, &parameters_used),
            };
            let mut places: Vec<Node<'t>> = dynamic
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| *n)
                .collect();
            places.sort_by_key(|n| n.start_byte());
            places.dedup_by_key(|n| n.start_byte());
            if let Some(&first) = places.first() {
                let more = match places.len() - 1 {
                    0 => String::new(),
                    1 => " (and 1 other place)".to_string(),
                    n => format!(" (and {n} other places)"),
                };
                let message = format!(
                    "context[\"{key}\"] is used dynamically here{more} (iterated, passed on, or \
                     indexed with a non-literal), so crpack cannot tell which {noun}s the script \
                     reads and skips the unused-{noun} check; index it with string literals, e.g. \
                     x[\"name\"] or x.get(\"name\"), to enable it",
                    key = kind.key(),
                    noun = kind.noun(),
                );
                self.warning_at(kind.dynamic_code(), first, message);
                continue;
            }
            if broken {
                continue;
            }
            for name in list {
                if used.contains(name) {
                    continue;
                }
                let message = format!(
                    "{noun} \"{name}\" is declared in {config} but the entry point never reads \
                     context[\"{key}\"][\"{name}\"]; remove it from crpack.toml \
                     {config} or use it",
                    noun = kind.noun(),
                    config = kind.config_key(),
                    key = kind.key(),
                );
                self.diags
                    .push(Diagnostic::warning(kind.unused_code(), self.file, message));
            }
        }
        (tables_used, parameters_used)
    }

    /// Records what one occurrence of a dict expression does with the dict.
    fn classify_use(
        &self,
        node: Node<'t>,
        kind: DictKind,
        bindings: &Bindings,
        uses: &mut Vec<(DictKind, String, Node<'t>)>,
        dynamic: &mut Vec<(DictKind, Node<'t>)>,
    ) {
        // Look through `(x)` and `x or {}`.
        let mut current = node;
        let parent = loop {
            let Some(p) = self.parent(current) else {
                return;
            };
            let wraps = p.kind() == "parenthesized_expression"
                || (p.kind() == "boolean_operator" && is_or(p) && field_is(p, "left", current));
            if wraps {
                current = p;
            } else {
                break p;
            }
        };
        match parent.kind() {
            "subscript" if field_is(parent, "value", current) => {
                let mut cursor = parent.walk();
                let keys: Vec<Node<'t>> = parent.children_by_field_name("subscript", &mut cursor).collect();
                match keys.as_slice() {
                    [key] => match self.key_value(*key, bindings) {
                        Some(name) => uses.push((kind, name, *key)),
                        None => dynamic.push((kind, *key)),
                    },
                    _ => dynamic.push((kind, parent)),
                }
            }
            "attribute" if field_is(parent, "object", current) => {
                let method = parent
                    .child_by_field_name("attribute")
                    .map_or("", |a| self.src.text(a));
                let call = self
                    .parent(parent)
                    .filter(|c| c.kind() == "call" && field_is(*c, "function", parent));
                let key = call
                    .filter(|_| method == "get")
                    .and_then(|c| c.child_by_field_name("arguments"))
                    .and_then(|args| named_children(args).first().copied())
                    .filter(|arg| arg.kind() != "keyword_argument");
                match key.and_then(|k| Some((k, self.key_value(k, bindings)?))) {
                    Some((key, name)) => uses.push((kind, name, key)),
                    None => dynamic.push((kind, current)),
                }
            }
            "comparison_operator" => {
                let operands = named_children(parent);
                let operators: Vec<Vec<&str>> = {
                    let mut cursor = parent.walk();
                    parent
                        .children_by_field_name("operators", &mut cursor)
                        .map(|op| self.src.text(op).split_whitespace().collect())
                        .collect()
                };
                let all = |ok: &[&[&str]]| operators.iter().all(|op| ok.contains(&op.as_slice()));
                if all(&[&["is"], &["is", "not"]]) {
                    return; // `x is None` reads no names
                }
                let membership = all(&[&["in"], &["not", "in"]]);
                let key = match operands.as_slice() {
                    [left, right] if membership && right.id() == current.id() => {
                        self.key_value(*left, bindings).map(|name| (name, *left))
                    }
                    _ => None,
                };
                match key {
                    Some((name, left)) => uses.push((kind, name, left)),
                    None => dynamic.push((kind, current)),
                }
            }
            // `tables = context["referencedTables"]`: an alias, followed through its uses.
            "assignment" | "named_expression"
                if binding_pairs(parent).iter().any(|(_, v)| v.id() == current.id()) => {}
            "expression_list"
                if self
                    .parent(parent)
                    .is_some_and(|a| binding_pairs(a).iter().any(|(_, v)| v.id() == current.id())) => {}
            // Truth tests read no names.
            "not_operator" => {}
            "if_statement" | "elif_clause" | "while_statement" if field_is(parent, "condition", current) => {}
            // A bare expression statement does nothing; in broken code we cannot tell.
            "expression_statement" | "ERROR" => {}
            _ => dynamic.push((kind, current)),
        }
    }
}

fn is_or<'t>(node: Node<'t>) -> bool {
    node.child_by_field_name("operator")
        .is_some_and(|op| op.kind() == "or")
}

fn undeclared_message(kind: DictKind, name: &str, declared: &[String]) -> String {
    let list = if declared.is_empty() {
        "none".to_string()
    } else {
        declared.join(", ")
    };
    let suggestion = declared
        .iter()
        .map(|d| (edit_distance(name, d), d))
        .filter(|(dist, d)| *dist <= 2.max(d.chars().count() / 4) && *dist > 0)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, d)| format!(" (did you mean \"{d}\"?)"))
        .unwrap_or_default();
    format!(
        "{noun} \"{name}\" is not in {config} (declared: {list}); add it to crpack.toml \
         {config} or fix the name{suggestion}",
        noun = kind.noun(),
        config = kind.config_key(),
    )
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}
