use super::*;
use crate::diagnostic::Severity;

const GOOD: &str = include_str!("../../../../fixtures/pycheck/good.py");

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Checks `source` against the given declarations.
fn run_with(source: &str, tables: &[&str], parameters: &[&str]) -> PyCheck {
    let tables = strings(tables);
    let parameters = strings(parameters);
    check_entry_point(
        "src/entrypoint.py",
        source,
        &Declared {
            tables: &tables,
            parameters: &parameters,
        },
    )
}

/// Checks `source` with nothing declared.
fn run(source: &str) -> PyCheck {
    run_with(source, &[], &[])
}

/// Findings as `code@line:col` (or just `code` without a position), in report order.
fn summary(check: &PyCheck) -> Vec<String> {
    check
        .diagnostics
        .iter()
        .map(|d| match (d.line, d.column) {
            (Some(l), Some(c)) => format!("{}@{l}:{c}", d.code),
            _ => d.code.to_string(),
        })
        .collect()
}

fn message<'a>(check: &'a PyCheck, code: &str) -> &'a str {
    &check
        .diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:?}", summary(check)))
        .message
}

/// Wraps statements into a valid entry point that returns results.
fn entry(body: &str) -> String {
    let mut s = String::from("def entrypoint(context):\n");
    for line in body.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("    return {\"results\": {}}\n");
    s
}

// --- a realistic script ------------------------------------------------------------------------

#[test]
fn realistic_script_has_no_findings() {
    let check = run_with(GOOD, &["orders", "customers"], &["min_orders"]);
    assert_eq!(summary(&check), Vec::<String>::new());
    assert_eq!(
        check.tables_used,
        BTreeSet::from(["customers".to_string(), "orders".to_string()])
    );
    assert_eq!(check.parameters_used, BTreeSet::from(["min_orders".to_string()]));
}

#[test]
fn realistic_script_reports_config_drift() {
    let check = run_with(GOOD, &["orders", "customers", "returns"], &[]);
    assert_eq!(summary(&check), ["undeclared-parameter@20:33", "unused-table"]);
    assert!(message(&check, "unused-table").contains("\"returns\""));
    assert_eq!(check.diagnostics[1].file, "src/entrypoint.py");
    assert_eq!(check.diagnostics[1].severity, Severity::Warning);
    assert_eq!(check.diagnostics[0].severity, Severity::Error);
}

// --- syntax ----------------------------------------------------------------------------------

#[test]
fn unclosed_bracket_points_at_the_opener() {
    let check = run("x = foo(1, 2\ny = 3\n");
    assert_eq!(summary(&check), ["syntax@1:8"]);
    assert_eq!(message(&check, "syntax"), "`(` is never closed");
    assert_eq!(check.diagnostics[0].severity, Severity::Error);

    let check = run(
        "def entrypoint(context):\n    df = context[\"referencedTables\"][\"orders\"\n    return {\"results\": {\"out\": df}}\n",
    );
    assert_eq!(summary(&check), ["syntax@2:37"]);
    assert_eq!(message(&check, "syntax"), "`[` is never closed");
}

#[test]
fn missing_token_is_reported_where_it_is_expected() {
    let check = run("def f(:\n    return 1\n");
    assert_eq!(summary(&check), ["syntax@1:7"]);
    assert_eq!(message(&check, "syntax"), "missing `)`");
}

#[test]
fn missing_colon_points_after_the_header() {
    let check = run("if x\n    pass\n");
    assert_eq!(summary(&check), ["syntax@1:5"]);
    assert_eq!(
        message(&check, "syntax"),
        "expected `:` at the end of the `if` line"
    );
}

#[test]
fn generic_error_quotes_the_text() {
    let check = run(&entry("x = 1 2"));
    // tree-sitter's recovery wraps the `1` in the ERROR node.
    assert_eq!(summary(&check), ["syntax@2:9"]);
    assert_eq!(message(&check, "syntax"), "invalid syntax near `1`");
}

#[test]
fn several_syntax_errors_in_one_file() {
    let source = "import os\n\
                  x = \"abc\n\
                  def helper():\n\
                  pass\n\
                  \n\
                  def entrypoint(context)\n    return {\"results\": {}}\n\
                  \n\
                  y = [1, 2)\n";
    let check = run(source);
    assert_eq!(
        summary(&check),
        ["syntax@2:5", "syntax@3:14", "syntax@6:24", "syntax@9:10"]
    );
    let messages: Vec<&str> = check.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "unterminated string literal",
            "expected an indented block after the `:` on line 3",
            "expected `:` at the end of the `def` line",
            "closing `)` does not match the opening `[` on line 9",
        ]
    );
}

#[test]
fn syntax_errors_suppress_findings_about_absence() {
    // The entry point is broken, so "missing", "no return" and "unused" would be noise.
    let check = run_with("def entrypoint(context)\n    pass\n", &["orders"], &["p"]);
    assert_eq!(summary(&check), ["syntax@1:24"]);
    // Findings about what is present still come through.
    let check = run("import boto3\nx = (\n");
    assert_eq!(summary(&check), ["network-import@1:8", "syntax@2:5"]);
}

#[test]
fn indentation_errors_the_grammar_accepts() {
    let cases = [
        (
            "def f():\n    x = 1\n        y = 2\n",
            "syntax@3:9",
            "unexpected indent",
        ),
        (
            "def f():\n    if x:\n        y = 1\n      z = 2\n    return 1\n",
            "syntax@4:7",
            "unindent does not match any outer indentation level",
        ),
        ("  x = 1\ny = 2\n", "syntax@1:3", "unexpected indent"),
        (
            "def f():\n\tx = 1\n        return x\n",
            "syntax@3:9",
            "inconsistent use of tabs and spaces in indentation",
        ),
        (
            "def f():\npass\n",
            "syntax@1:9",
            "expected an indented block after the `:` on line 1",
        ),
    ];
    for (source, at, said) in cases {
        let check = run(source);
        assert_eq!(summary(&check)[0], at, "{source:?}");
        assert_eq!(message(&check, "syntax"), said, "{source:?}");
    }
    // The first is the only finding of its source.
    assert_eq!(summary(&run(cases[0].0)), [cases[0].1]);
}

#[test]
fn well_formed_layouts_are_not_indentation_errors() {
    let source = "def entrypoint(context):  # comment\n\
                  \x20   x = 1; y = 2\n\
                  \x20   if x: z = 3\n\
                  # a comment at column 1\n\
                  \x20       # an over-indented comment\n\
                  \x20   s = \"\"\"\n\
                  text at column 1\n\
                  \x20       \"\"\"\n\
                  \x20   t = (1,\n\
                  2)\n\
                  \x20   return {\"results\": {}}\n\
                  class A: pass\n";
    assert_eq!(summary(&run(source)), Vec::<String>::new());
}

#[test]
fn python2_statements_are_syntax_errors() {
    let check = run(&entry("print \"hi\""));
    assert_eq!(summary(&check), ["syntax@2:5"]);
    assert!(message(&check, "syntax").contains("print(...)"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let check = run("x = \"é€\" + foo(1,\n");
    assert_eq!(summary(&check), ["syntax@1:15"]);
    let check = run(&entry("s = \"日本\"; r = df.rdd"));
    assert_eq!(summary(&check), ["rdd@2:22"]);
}

#[test]
fn byte_order_mark_is_ignored() {
    let check = run("\u{feff}import boto3\n");
    assert_eq!(summary(&check), ["network-import@1:8", "missing-entrypoint"]);
}

#[test]
fn deep_nesting_does_not_overflow() {
    let chain = vec!["a"; 20_000].join(" + ");
    let parens = format!("{}1{}", "(".repeat(2_000), ")".repeat(2_000));
    let check = run(&entry(&format!("x = {chain}\ny = {parens}")));
    assert_eq!(summary(&check), Vec::<String>::new());
}

// --- the entry point ---------------------------------------------------------------------------

#[test]
fn missing_entrypoint() {
    let check = run("def main(context):\n    return {\"results\": {}}\n");
    assert_eq!(summary(&check), ["missing-entrypoint"]);
    assert_eq!(check.diagnostics[0].severity, Severity::Error);
    assert_eq!(summary(&run("")), ["missing-entrypoint"]);
    // A variable or a string is not a definition.
    assert_eq!(
        summary(&run("entrypoint = 1\nx = \"def entrypoint(context):\"\n")),
        ["missing-entrypoint"]
    );
}

#[test]
fn nested_entrypoint_does_not_count() {
    let check = run("class Job:\n    def entrypoint(self, context):\n        return {}\n");
    assert_eq!(summary(&check), ["missing-entrypoint@2:9"]);
    assert!(message(&check, "missing-entrypoint").contains("inside class `Job`"));
    let check = run("def outer():\n    def entrypoint(context):\n        return {}\n");
    assert_eq!(summary(&check), ["missing-entrypoint@2:9"]);
}

#[test]
fn async_entrypoint_does_not_count() {
    let check = run("async def entrypoint(context):\n    return {\"results\": {}}\n");
    assert_eq!(summary(&check), ["missing-entrypoint@1:11"]);
    assert!(message(&check, "missing-entrypoint").contains("async def"));
}

#[test]
fn accepted_signatures() {
    for header in [
        "def entrypoint(context):",
        "def entrypoint(ctx):",
        "def entrypoint(context: dict) -> dict:",
        "def entrypoint(context=None):",
        "def entrypoint(context: dict = None):",
        "def entrypoint(context, /):",
        "@some.decorator(1)\ndef entrypoint(context):",
    ] {
        let source = format!("{header}\n    return {{\"results\": {{}}}}\n");
        assert_eq!(summary(&run(&source)), Vec::<String>::new(), "{header}");
    }
    // Module level inside `if`/`try` still counts.
    let source = "try:\n    import x\nexcept ImportError:\n    pass\nif True:\n    def entrypoint(context):\n        return {\"results\": {}}\n";
    assert_eq!(summary(&run(source)), Vec::<String>::new());
}

#[test]
fn wrong_signatures() {
    for (params, column) in [
        ("()", 15),
        ("(context, extra)", 15),
        ("(*args)", 15),
        ("(**kwargs)", 15),
        ("(*, context)", 15),
        ("(context, *rest)", 15),
        ("(context, debug=False)", 15),
    ] {
        let source = format!("def entrypoint{params}:\n    return {{\"results\": {{}}}}\n");
        let check = run(&source);
        assert_eq!(
            summary(&check),
            [format!("entrypoint-signature@1:{column}")],
            "{params}"
        );
        assert!(message(&check, "entrypoint-signature").contains(params));
    }
}

#[test]
fn redefined_entrypoint_is_a_warning_and_the_last_one_counts() {
    let source = "def entrypoint(context):\n    return {\"results\": {}}\n\n\
                  @decorated\ndef entrypoint(a, b):\n    return {\"results\": {}}\n";
    let check = run(source);
    assert_eq!(
        summary(&check),
        ["entrypoint-redefined@5:5", "entrypoint-signature@5:15"]
    );
    assert_eq!(check.diagnostics[0].severity, Severity::Warning);
    assert!(message(&check, "entrypoint-redefined").contains("line 1"));
    // Alternatives in `if`/`else` are not a redefinition.
    let source = "if X:\n    def entrypoint(context):\n        return {\"results\": {}}\nelse:\n    def entrypoint(context):\n        return {\"results\": {}}\n";
    assert_eq!(summary(&run(source)), Vec::<String>::new());
}

// --- the return value --------------------------------------------------------------------------

#[test]
fn no_return() {
    let check =
        run("def entrypoint(context):\n    def helper():\n        return {\"results\": {}}\n    helper()\n");
    assert_eq!(summary(&check), ["no-return@1:5"]);
    assert_eq!(check.diagnostics[0].severity, Severity::Warning);
}

#[test]
fn results_key() {
    let source = "def entrypoint(context):\n    if context:\n        return {\"output\": df}\n    return ({'results': {}})\n";
    let check = run(source);
    assert_eq!(summary(&check), ["results-key@3:16"]);
    assert!(message(&check, "results-key").contains("\"output\""));
    assert_eq!(check.diagnostics[0].severity, Severity::Warning);
    assert_eq!(
        summary(&run("def entrypoint(context):\n    return {}\n")),
        ["results-key@2:12"]
    );
    // Not a dict literal, a spread, or a computed key: can't tell, so no finding.
    for value in ["out", "dict(results=x)", "{**base}", "{KEY: df}", "None", ""] {
        let source = format!("def entrypoint(context):\n    return {value}\n");
        assert_eq!(summary(&run(&source)), Vec::<String>::new(), "{value}");
    }
}

// --- tables and parameters ----------------------------------------------------------------

#[test]
fn direct_table_reads() {
    let source = entry(
        "a = context[\"referencedTables\"][\"orders\"]\nb = context['referencedTables'].get('customers')",
    );
    let check = run_with(&source, &["orders", "customers"], &[]);
    assert_eq!(summary(&check), Vec::<String>::new());
    assert_eq!(
        check.tables_used,
        BTreeSet::from(["customers".to_string(), "orders".to_string()])
    );
}

#[test]
fn aliases_are_followed() {
    let source = entry(
        "tables = context.get(\"referencedTables\")\n\
         t2 = (tables)\n\
         p = context.get(\"analysisParameters\", {}) or {}\n\
         a, b = t2[\"orders\"], context[\"analysisParameters\"]\n\
         if (q := p):\n    pass\n\
         c = b.get(\"min_orders\", \"1\")\n\
         d = q[\"max_orders\"]\n\
         if \"customers\" not in tables:\n    pass",
    );
    let check = run_with(&source, &["orders", "customers"], &["min_orders", "max_orders"]);
    assert_eq!(summary(&check), Vec::<String>::new());
    assert_eq!(check.tables_used.len(), 2);
    assert_eq!(check.parameters_used.len(), 2);
}

#[test]
fn truth_tests_are_not_dynamic_access() {
    let source = entry(
        "p = context.get(\"analysisParameters\")\n\
         if p is None or not p:\n    pass\n\
         while p:\n    break\n\
         if p:\n    x = p[\"min_orders\"]",
    );
    let check = run_with(&source, &[], &["min_orders", "unused"]);
    assert_eq!(summary(&check), ["unused-parameter"]);
}

#[test]
fn string_constants_are_resolved_when_bound_once() {
    let source = format!(
        "ORDERS = \"orders\"\nOTHER = \"customers\"\nOTHER = \"x\"\n{}",
        entry("t = context[\"referencedTables\"]\na = t[ORDERS]")
    );
    let check = run_with(&source, &["orders"], &[]);
    assert_eq!(summary(&check), Vec::<String>::new());
    // Bound twice: not a constant, so the access is dynamic.
    let source = format!(
        "OTHER = \"customers\"\nOTHER = \"x\"\n{}",
        entry("t = context[\"referencedTables\"]\na = t[OTHER]")
    );
    assert_eq!(
        summary(&run_with(&source, &["orders"], &[])),
        ["dynamic-table-access@5:11"]
    );
}

#[test]
fn undeclared_table_points_at_the_literal() {
    let source =
        entry("tables = context[\"referencedTables\"]\na = tables[\"ordrs\"]\nb = tables.get('returns')");
    let check = run_with(&source, &["orders", "customers"], &[]);
    assert_eq!(
        summary(&check),
        [
            "undeclared-table@3:16",
            "undeclared-table@4:20",
            "unused-table",
            "unused-table"
        ]
    );
    assert_eq!(
        check.diagnostics[0].message,
        "table \"ordrs\" is not in [template] referenced_tables (declared: orders, customers); add it \
         to crpack.toml [template] referenced_tables or fix the name (did you mean \"orders\"?)"
    );
    assert!(!check.diagnostics[1].message.contains("did you mean"));
    assert_eq!(check.diagnostics[0].severity, Severity::Error);
    assert_eq!(
        check.tables_used,
        BTreeSet::from(["ordrs".to_string(), "returns".to_string()])
    );
    let unused: Vec<&str> = check.diagnostics[2..]
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(unused[0].contains("\"orders\"") && unused[1].contains("\"customers\""));
    assert!(check.diagnostics[2].line.is_none());
    assert_eq!(check.diagnostics[2].severity, Severity::Warning);
}

#[test]
fn undeclared_and_unused_parameters() {
    let source = entry("limit = context[\"analysisParameters\"][\"limt\"]");
    let check = run_with(&source, &[], &["limit", "region"]);
    assert_eq!(
        summary(&check),
        [
            "undeclared-parameter@2:43",
            "unused-parameter",
            "unused-parameter"
        ]
    );
    assert!(message(&check, "undeclared-parameter").contains("[[template.parameters]]"));
    assert_eq!(check.parameters_used, BTreeSet::from(["limt".to_string()]));
    // Nothing declared.
    let check = run(&entry("x = context[\"analysisParameters\"][\"p\"]"));
    assert!(message(&check, "undeclared-parameter").contains("(declared: none)"));
}

#[test]
fn dynamic_access_replaces_unused_warnings() {
    for (body, position) in [
        (
            "for name, df in context[\"referencedTables\"].items():\n    pass",
            "3:21",
        ),
        (
            "t = context[\"referencedTables\"]\nfor name in t:\n    pass",
            "4:17",
        ),
        ("t = context[\"referencedTables\"]\nuse(t)", "4:9"),
        (
            "t = context[\"referencedTables\"]\nname = pick()\ndf = t[name]",
            "5:12",
        ),
        (
            "t = context[\"referencedTables\"]\ndf = t.get(\"or\" + \"ders\")",
            "4:10",
        ),
        ("t = context[\"referencedTables\"]\nreturn t", "4:12"),
        ("self.t = context[\"referencedTables\"]", "3:14"),
    ] {
        let source = entry(&format!("a = context[\"referencedTables\"][\"orders\"]\n{body}"));
        let check = run_with(&source, &["orders", "customers"], &[]);
        assert_eq!(
            summary(&check),
            [format!("dynamic-table-access@{position}")],
            "{body}"
        );
        assert_eq!(check.diagnostics[0].severity, Severity::Warning);
    }
    // One warning per kind, however many places.
    let source = entry("p = context[\"analysisParameters\"]\nf(p)\ng(p)\nfor k in p:\n    pass");
    let check = run_with(&source, &[], &["x"]);
    assert_eq!(summary(&check), ["dynamic-parameter-access@3:7"]);
    assert!(message(&check, "dynamic-parameter-access").contains("(and 2 other places)"));
    // Undeclared literal names are still errors when there is also dynamic access.
    let source = entry("t = context[\"referencedTables\"]\nf(t)\nx = t[\"nope\"]");
    assert_eq!(
        summary(&run_with(&source, &["orders"], &[])),
        ["dynamic-table-access@3:7", "undeclared-table@4:11"]
    );
}

#[test]
fn look_alike_keys_are_not_table_reads() {
    let source = entry(
        "x = context[\"sparkSession\"]\n\
         y = data[\"orders\"]\n\
         z = \"referencedTables\"\n\
         w = other.get(\"orders\")",
    );
    let check = run_with(&source, &[], &[]);
    assert_eq!(summary(&check), Vec::<String>::new());
    assert!(check.tables_used.is_empty());
}

// --- network imports -------------------------------------------------------------------------

#[test]
fn network_imports() {
    let source = "import requests, urllib.request as ur\n\
                  from http import client\n\
                  import http.client\n\
                  from botocore.config import Config\n\
                  import httpx as h\n\
                  from aiohttp import web\n\
                  m = __import__(\"socket\")\n\
                  n = importlib.import_module('urllib3')\n\
                  import urllib\n\
                  def entrypoint(context):\n    import boto3\n    return {\"results\": {}}\n";
    let check = run(source);
    assert_eq!(
        summary(&check),
        [
            "network-import@1:8",
            "network-import@1:18",
            "network-import@2:18",
            "network-import@3:8",
            "network-import@4:6",
            "network-import@5:8",
            "network-import@6:6",
            "network-import@7:16",
            "network-import@8:29",
            "network-import@9:8",
            "network-import@11:12",
        ]
    );
    assert!(check.diagnostics.iter().all(|d| d.severity == Severity::Error));
    assert!(message(&check, "network-import").contains("no network access"));
    assert!(check.diagnostics[10].message.contains("S3, Glue"));
}

#[test]
fn harmless_lookalikes_are_not_network_imports() {
    let source = format!(
        "import http\nfrom http import HTTPStatus\nfrom urllib.parse import urlparse\n\
         import urllib.parse\nfrom . import socket\nfrom .requests import get\n\
         import requests_toolbelt_docs_only_in_name as r\nimport mysocket\n\
         # import boto3\n{}",
        entry("s = \"import boto3\"\nx = __import__(name)")
    );
    assert_eq!(summary(&run(&source)), Vec::<String>::new());
}

// --- unsupported Spark features ----------------------------------------------------------------

#[test]
fn unsupported_spark_features() {
    let source = "from pyspark.sql.functions import udtf, col\n\
                  from pyspark.streaming import StreamingContext\n\
                  from pyspark import SparkContext\n\
                  @udtf(returnType=\"x: int\")\n\
                  class T:\n    def eval(self):\n        yield 1,\n\
                  def entrypoint(context):\n\
                  \x20   spark = context[\"sparkSession\"]\n\
                  \x20   sc = spark.sparkContext\n\
                  \x20   r = df.rdd.map(lambda x: x)\n\
                  \x20   s = spark.readStream.load()\n\
                  \x20   df.writeStream.start()\n\
                  \x20   F.udtf(T)\n\
                  \x20   return {\"results\": {}}\n";
    let check = run(source);
    assert_eq!(
        summary(&check),
        [
            "udtf@1:35",
            "streaming@2:6",
            "spark-context@3:21",
            "udtf@4:2",
            "spark-context@10:16",
            "rdd@11:12",
            "streaming@12:15",
            "streaming@13:8",
            "udtf@14:7",
        ]
    );
    assert!(check.diagnostics.iter().all(|d| d.severity == Severity::Error));
}

#[test]
fn spark_words_in_strings_comments_and_names_are_fine() {
    let source = format!(
        "\"\"\"Avoid df.rdd, spark.sparkContext, readStream and @udtf.\"\"\"\n{}",
        entry(
            "# df.rdd and spark.sparkContext are not allowed\n\
             rdd = \"df.rdd\"\n\
             x = getattr(df, \"rdd\")\n\
             sparkContext = 1\n\
             udtf_count = udtf_like(1)\n\
             y = f\"{rdd}.readStream\"",
        )
    );
    assert_eq!(summary(&run(&source)), Vec::<String>::new());
}

// --- output shape ------------------------------------------------------------------------------

#[test]
fn diagnostics_are_sorted_with_unplaced_ones_last() {
    let source = "import socket\ndef main():\n    return df.rdd\n";
    let check = run_with(source, &["t"], &[]);
    assert_eq!(
        summary(&check),
        [
            "network-import@1:8",
            "rdd@3:15",
            "missing-entrypoint",
            "unused-table"
        ]
    );
    assert_eq!(
        check.diagnostics[1].to_string(),
        "src/entrypoint.py:3:15: error[rdd]: `.rdd` converts to an RDD, and Clean Rooms does \
         not support RDDs; use DataFrame operations instead"
    );
}
