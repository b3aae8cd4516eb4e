//! Imports and Spark features: network modules, RDDs, SparkContext, streaming and UDTFs.

use tree_sitter::Node;

use super::{Checker, field_is, named_children};

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

/// The dotted names an import statement imports: `a.b` of `import a.b as c`.
fn imported_names<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.children_by_field_name("name", &mut cursor)
        .map(|name| {
            if name.kind() == "aliased_import" {
                name.child_by_field_name("name").unwrap_or(name)
            } else {
                name
            }
        })
        .collect()
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
    pub(super) fn check_imports(&mut self, nodes: &[Node<'t>]) {
        for &node in nodes {
            match node.kind() {
                "import_statement" => {
                    for dotted in imported_names(node) {
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
        for dotted in imported_names(node) {
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
    pub(super) fn check_spark(&mut self, nodes: &[Node<'t>]) {
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
