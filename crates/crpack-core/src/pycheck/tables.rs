//! `referencedTables` and `analysisParameters`: which tables and parameters the script reads,
//! through aliases and constants, and which reads are dynamic.

use std::collections::{BTreeSet, HashMap};

use tree_sitter::Node;

use super::{Checker, Declared, field_is, named_children};
use crate::diagnostic::Diagnostic;

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

    /// The names that go with this dict: in the script, in `crpack.toml` and in diagnostics.
    fn names(self) -> &'static DictNames {
        match self {
            Self::Tables => &DictNames {
                key: "referencedTables",
                noun: "table",
                config_key: "[template] referenced_tables",
                undeclared_code: "undeclared-table",
                unused_code: "unused-table",
                dynamic_code: "dynamic-table-access",
            },
            Self::Params => &DictNames {
                key: "analysisParameters",
                noun: "parameter",
                config_key: "[[template.parameters]]",
                undeclared_code: "undeclared-parameter",
                unused_code: "unused-parameter",
                dynamic_code: "dynamic-parameter-access",
            },
        }
    }
}

/// What one of the two dicts is called, and the codes of its diagnostics.
struct DictNames {
    /// The key in `context`.
    key: &'static str,
    noun: &'static str,
    /// The `crpack.toml` `[template]` key that declares these names.
    config_key: &'static str,
    undeclared_code: &'static str,
    unused_code: &'static str,
    dynamic_code: &'static str,
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
    pub(super) fn check_dicts(
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
                self.error_at(kind.names().undeclared_code, *node, message);
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
                    key = kind.names().key,
                    noun = kind.names().noun,
                );
                self.warning_at(kind.names().dynamic_code, first, message);
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
                    noun = kind.names().noun,
                    config = kind.names().config_key,
                    key = kind.names().key,
                );
                self.diags
                    .push(Diagnostic::warning(kind.names().unused_code, self.file, message));
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
        noun = kind.names().noun,
        config = kind.names().config_key,
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
