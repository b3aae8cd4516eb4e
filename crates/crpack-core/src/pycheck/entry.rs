//! The entry point and its return value: a module-level `def entrypoint(context)` with one
//! positional parameter, returning `{"results": {...}}`.

use tree_sitter::Node;

use super::{Checker, named_children, walk};
use crate::diagnostic::Diagnostic;

impl<'t> Checker<'t> {
    /// Finds the module-level `def entrypoint`, checks its signature, and returns the one that
    /// Python would use (the last).
    pub(super) fn check_entrypoint(
        &mut self,
        root: Node<'t>,
        nodes: &[Node<'t>],
        broken: bool,
    ) -> Option<Node<'t>> {
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
    pub(super) fn check_returns(&mut self, def: Node<'t>, broken: bool) {
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
