//! The reviewer's desk through the real binary against the sandbox: `crpack templates` lists the
//! collaboration's templates and `--pending` follows approve and revoke across two tables; the
//! HTML review rendered by headless Chromium; `crpack diff` between published versions.

use crate::common::*;

/// `crpack --json templates --membership <provider's> [extra]` as the provider.
fn desk(sb: &TestSandbox, dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let pm = sb.seed.provider.membership_id.clone();
    let mut args = vec!["--json", "templates", "--membership", &pm];
    args.extend_from_slice(extra);
    let r = sb.provider(dir, &args).expect(0).json();
    assert_eq!(r["ok"], true);
    r["desk"].clone()
}

/// `(table, allowed)` for each of the provider's tables the listed template reads.
fn access(entry: &serde_json::Value) -> Vec<(String, bool)> {
    entry["my_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["allowed"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The ARNs a desk lists.
fn arns(desk: &serde_json::Value) -> Vec<String> {
    desk["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["arn"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pending_follows_approve_and_revoke_across_two_tables() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/desk");
    let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let pm = sb.seed.provider.membership_id.clone();
    let files = [
        dir.join("dist/entrypoint.py").display().to_string(),
        dir.join("dist/pyspark_venv.tar.gz").display().to_string(),
    ];
    let approve = |extra: &[&str]| {
        let mut args = vec!["--json", "approve", "--template", &arn, "--membership", &pm];
        args.extend_from_slice(extra);
        args.extend(["--files", &files[0], &files[1]]);
        sb.provider(&dir, &args).expect(0);
    };

    // Published, not reviewed: listed, and pending on both tables.
    let all = desk(&sb, &dir, &[]);
    assert_eq!(all["membership_id"], pm.as_str());
    assert_eq!(all["collaboration_id"], sb.seed.collaboration_id.as_str());
    assert_eq!(all["pending_only"], false);
    assert_eq!(arns(&all), [arn.as_str()]);
    let entry = &all["templates"][0];
    assert_eq!(
        entry["creator_account_id"],
        sb.seed.author.identity.account_id.as_str()
    );
    assert_eq!(entry["error_messages"], "BASIC");
    assert_eq!(
        entry["referenced_tables"],
        serde_json::json!(["orders", "customers"])
    );
    assert!(entry["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        access(entry),
        [("orders".to_string(), false), ("customers".to_string(), false)]
    );
    assert_eq!(entry["my_tables"][0]["reason"], "not_listed");
    assert_eq!(entry["pending"], true);
    assert_eq!(arns(&desk(&sb, &dir, &["--pending"])), [arn.as_str()]);

    // Allowed on one table of two: still pending.
    approve(&["--table", "orders"]);
    let pending = desk(&sb, &dir, &["--pending"]);
    assert_eq!(pending["pending_only"], true);
    assert_eq!(arns(&pending), [arn.as_str()]);
    assert_eq!(
        access(&pending["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), false)]
    );
    assert_eq!(pending["templates"][0]["my_tables"][0]["reason"], "arn");

    // Allowed on both: no longer pending, still listed.
    approve(&[]);
    assert!(arns(&desk(&sb, &dir, &["--pending"])).is_empty());
    let all = desk(&sb, &dir, &[]);
    assert_eq!(all["templates"][0]["pending"], false);
    assert_eq!(
        access(&all["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), true)]
    );

    // Revoked on one: pending again.
    sb.provider(
        &dir,
        &[
            "--json",
            "revoke",
            "--template",
            &arn,
            "--membership",
            &pm,
            "--table",
            "customers",
        ],
    )
    .expect(0);
    let pending = desk(&sb, &dir, &["--pending"]);
    assert_eq!(arns(&pending), [arn.as_str()]);
    assert_eq!(
        access(&pending["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), false)]
    );

    // The human desk: one row per template, the tables' state in words, the count on stderr.
    let human = sb.provider(&dir, &["templates", "--membership", &pm]).expect(0);
    let out = human.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one template:\n{out}");
    assert!(lines[0].starts_with("TEMPLATE"), "{out}");
    assert!(
        lines[1].contains("orders allowed, customers NOT allowed"),
        "{out}"
    );
    assert!(lines[1].ends_with(arn.as_str()), "{out}");
    assert!(
        human.stderr().contains("1 PySpark template(s) in collaboration")
            && human.stderr().contains("1 await"),
        "{}",
        human.stderr()
    );
}

#[test]
fn the_author_sees_templates_that_read_no_table_of_theirs() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/desk-author");
    sb.author(&dir, &["--json", "publish"]).expect(0);
    let am = sb.seed.author.membership_id.clone();
    let r = sb
        .author(&dir, &["--json", "templates", "--membership", &am])
        .expect(0)
        .json();
    let entry = &r["desk"]["templates"][0];
    assert_eq!(entry["my_tables"], serde_json::json!([]));
    assert_eq!(entry["pending"], false);
    let r = sb
        .author(&dir, &["--json", "templates", "--membership", &am, "--pending"])
        .expect(0)
        .json();
    assert_eq!(r["desk"]["templates"], serde_json::json!([]));
}

#[test]
fn an_outsider_gets_exit_3_with_the_cause() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let pm = sb.seed.provider.membership_id.clone();
    let mut cmd = crpack(["--json", "templates", "--membership", &pm]);
    cmd.current_dir(tmp.path());
    sb.as_identity(&mut cmd, &sb.seed.outsider);
    let r = run(&mut cmd).expect(3);
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    assert!(!doc["error"]["message"].as_str().unwrap().is_empty());
}

/// The DOM headless Chromium builds from `page` (opened from disk, as a reviewer would), or
/// `None` outside CI when no chromium is installed (scripts/install-test-deps.sh installs it).
fn chromium_dom(page: &std::path::Path) -> Option<String> {
    let found = std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI renders the review in Chromium: scripts/install-test-deps.sh installs it"
        );
        eprintln!("** skipped: install chromium (Debian's package) to render the review");
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("</html>"), "chromium rendered no page:\n{dom}");
    Some(dom)
}

/// The text of every element of `dom` whose opening tag contains `marker`, tags stripped and
/// entities decoded (the DOM as the browser serialised it).
fn texts(dom: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find(marker) {
        let open_end = rest[i..].find('>').unwrap() + i + 1;
        let tag_start = rest[..i].rfind('<').unwrap();
        let tag: String = rest[tag_start + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let close = format!("</{tag}>");
        // Elements of the same tag do not nest in the review's cells.
        let end = rest[open_end..].find(&close).unwrap() + open_end;
        out.push(decode(&strip_tags(&rest[open_end..end])));
        rest = &rest[end..];
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Publishes the scaffold (as a venv, or as a zip with `zip`), verifies it with `--report`
/// and returns the project dir, the lock, and the page Chromium rendered.
fn reviewed(
    sb: &TestSandbox,
    tmp: &std::path::Path,
    prefix: &str,
    zip: bool,
) -> Option<(std::path::PathBuf, serde_json::Value, String)> {
    let dir = sb.project(tmp, prefix);
    if zip {
        let manifest = dir.join("crpack.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let text = text
            .replace("[bundle]\n", "[bundle]\nformat = \"zip\"\n")
            .replace("requirements = \"requirements.txt\"\n", "");
        std::fs::write(&manifest, text).unwrap();
    }
    let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let pm = sb.seed.provider.membership_id.clone();
    let page = tmp.join("review.html");
    let files: Vec<String> = lock["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            dir.join("dist")
                .join(a["file_name"].as_str().unwrap())
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["verify", "--template", &arn, "--membership", &pm, "--report"];
    let page_arg = page.display().to_string();
    args.push(&page_arg);
    args.push("--files");
    args.extend(files.iter().map(String::as_str));
    let r = sb.provider(&dir, &args).expect(0);
    assert!(r.stderr().contains("review      wrote"), "{}", r.stderr());
    let dom = chromium_dom(&page)?;
    Some((dir, lock, dom))
}

#[test]
fn the_review_page_renders_code_hashes_and_verdicts_in_chromium() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let Some((dir, lock, dom)) = reviewed(&sb, tmp.path(), "templates/review-page", false) else {
        return;
    };
    // The verdict banner and one row per artifact, with the recorded and actual hashes.
    assert!(
        dom.contains("id=\"overall\" class=\"banner pass\" data-ok=\"true\""),
        "{dom}"
    );
    for a in lock["artifacts"].as_array().unwrap() {
        let sha = a["sha256"].as_str().unwrap();
        let cells = texts(&dom, "class=\"hash expected\"");
        assert!(
            cells.iter().any(|c| c == sha),
            "recorded {sha} not shown: {cells:?}"
        );
        let cells = texts(&dom, "class=\"hash actual\"");
        assert!(
            cells.iter().any(|c| c == sha),
            "actual {sha} not shown: {cells:?}"
        );
    }
    assert_eq!(texts(&dom, "class=\"verdict v-match\"").len(), 2);
    // The entry point's code, line by line, exactly as the file holds it.
    let source = std::fs::read_to_string(dir.join("dist/entrypoint.py")).unwrap();
    let shown = texts(&dom, "class=\"src\"");
    assert_eq!(shown.join("\n") + "\n", source);
    assert!(
        dom.contains("<span class=\"kw\">def</span> <span class=\"df\">entrypoint</span>"),
        "{dom}"
    );
    // Where each table and the parameter is read.
    let line_of = |needle: &str| source.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let reads = texts(&dom, "class=\"read\"");
    assert!(
        reads.contains(&format!("tableorders{}", line_of("tables[\"orders\"]"))),
        "{reads:?}"
    );
    assert!(
        reads.contains(&format!("tablecustomers{}", line_of("tables[\"customers\"]"))),
        "{reads:?}"
    );
    assert!(
        reads.contains(&format!(
            "parametermin_customers{}",
            line_of("[\"min_customers\"]")
        )),
        "{reads:?}"
    );
    // The summary.
    assert_eq!(
        texts(&dom, "id=\"s-arn\""),
        [lock["template"]["arn"].as_str().unwrap()]
    );
    assert_eq!(texts(&dom, "id=\"s-errors\""), ["BASIC"]);
    assert_eq!(texts(&dom, "id=\"crpack-version\""), [env!("CARGO_PKG_VERSION")]);
    // The environment's inventory: the project's own module, no third-party distribution.
    assert_eq!(texts(&dom, "id=\"own-modules\""), ["analysis_helpers"]);
    assert_eq!(
        texts(&dom, "id=\"distributions\""),
        ["No third-party distributions."]
    );
}

#[test]
fn the_review_page_of_a_zip_template_in_chromium() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let Some((_dir, _lock, dom)) = reviewed(&sb, tmp.path(), "templates/review-zip", true) else {
        return;
    };
    assert!(dom.contains("data-ok=\"true\""), "{dom}");
    assert_eq!(texts(&dom, "class=\"verdict v-match\"").len(), 2);
    // A zip's inventory is its entries.
    let entries = texts(&dom, "class=\"entry\"");
    assert!(
        entries
            .iter()
            .any(|e| e.starts_with("analysis_helpers/__init__.py")),
        "{entries:?}"
    );
}

/// Copies `dir/dist` to `to` and returns the copies of the published files, in the lock's order.
fn keep_dist(dir: &std::path::Path, lock: &serde_json::Value, to: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(to).unwrap();
    lock["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let name = a["file_name"].as_str().unwrap();
            std::fs::copy(dir.join("dist").join(name), to.join(name)).unwrap();
            to.join(name).display().to_string()
        })
        .collect()
}

/// Edits `file` under `dir`, replacing `from` with `to` (which must be there).
fn edit(dir: &std::path::Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// `diff OLD NEW --membership PM EXTRA… --old-files … --new-files …` for two published versions,
/// each its template ARN and the files kept from its build.
fn diff_args<'a>(
    old: &'a (String, Vec<String>),
    new: &'a (String, Vec<String>),
    membership: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["diff", old.0.as_str(), new.0.as_str(), "--membership", membership];
    args.extend(extra);
    args.push("--old-files");
    args.extend(old.1.iter().map(String::as_str));
    args.push("--new-files");
    args.extend(new.1.iter().map(String::as_str));
    args
}

#[test]
fn diff_shows_what_changed_since_the_approved_version() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/diff");
    let publish = |what: &str| -> (String, Vec<String>) {
        let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
        let files = keep_dist(&dir, &lock, &tmp.path().join(what));
        (lock["template"]["arn"].as_str().unwrap().to_string(), files)
    };
    let pm = sb.seed.provider.membership_id.clone();
    let diff = |old: &(String, Vec<String>), new: &(String, Vec<String>), code: i32| -> serde_json::Value {
        let mut args = vec!["--json"];
        args.extend(diff_args(old, new, &pm, &[]));
        sb.provider(&dir, &args).expect(code).json()
    };
    let status = |d: &serde_json::Value| -> Vec<String> {
        d["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{}={}",
                    a["role"].as_str().unwrap(),
                    a["status"].as_str().unwrap()
                )
            })
            .collect()
    };

    let v1 = publish("v1");
    // The same template: identical, exit 0.
    let same = diff(&v1, &v1, 0);
    assert_eq!(same["identical"], true);
    assert_eq!(same["ok"], true);
    assert_eq!(status(&same), ["entry_point=unchanged", "additional=unchanged"]);

    // One changed line of the entry point.
    edit(
        &dir,
        "src/entrypoint.py",
        "    return {\"results\"",
        "    # reviewed\n    return {\"results\"",
    );
    let v2 = publish("v2");
    let d = diff(&v1, &v2, 1);
    assert_eq!(d["identical"], false);
    assert_eq!(status(&d), ["entry_point=changed", "additional=unchanged"]);
    let fields: Vec<&str> = d["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "entry_point_location"]);
    let code: Vec<&str> = d["artifacts"][0]["code_diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        code[0].starts_with("--- s3://") && code[1].starts_with("+++ s3://"),
        "{code:?}"
    );
    let changed: Vec<&&str> = code
        .iter()
        .filter(|l| l.starts_with('+') || l.starts_with('-'))
        .skip(2)
        .collect();
    assert_eq!(changed, [&"+    # reviewed"]);
    assert_eq!(d["artifacts"][1]["old_sha256"], d["artifacts"][1]["new_sha256"]);
    assert_eq!(d["old_verification"]["outcome"], "verified");

    // A changed parameter default only: metadata, and byte-identical artifacts.
    edit(&dir, "crpack.toml", "default = \"1\"", "default = \"5\"");
    let v3 = publish("v3");
    let d = diff(&v2, &v3, 1);
    assert_eq!(status(&d), ["entry_point=unchanged", "additional=unchanged"]);
    let params = d["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "parameters")
        .unwrap();
    assert_eq!(params["old"][0]["default"], "1");
    assert_eq!(params["new"][0]["default"], "5");

    // Only the additional artifact: the archive diff names the changed module.
    edit(&dir, "lib/analysis_helpers/__init__.py", "\n", "\n# v4\n");
    let v4 = publish("v4");
    let d = diff(&v3, &v4, 1);
    assert_eq!(status(&d), ["entry_point=unchanged", "additional=changed"]);
    let archive = &d["artifacts"][1]["archive_diff"];
    let names: Vec<&str> = archive["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("site-packages/analysis_helpers/__init__.py")),
        "{archive}"
    );

    // Without bytes: the recorded hashes say what changed, and how to see more.
    let r = sb
        .provider(&dir, &["--json", "diff", &v3.0, &v4.0, "--membership", &pm])
        .expect(1)
        .json();
    assert!(r["artifacts"][1]["note"].as_str().unwrap().contains("--from-s3"));
    assert_eq!(r["artifacts"][1]["archive_diff"], serde_json::Value::Null);

    // Human output and the HTML page.
    let page = tmp.path().join("diff.html");
    let page_arg = page.display().to_string();
    let args = diff_args(&v1, &v2, &pm, &["--report", &page_arg]);
    let human = sb.provider(&dir, &args).expect(1);
    let out = human.stdout();
    assert!(
        out.contains("entry_point  changed") && out.contains("+    # reviewed"),
        "{out}"
    );
    assert!(
        out.contains("additional   unchanged") && out.contains("byte-identical"),
        "{out}"
    );
    if let Some(dom) = chromium_dom(&page) {
        assert!(dom.contains("data-identical=\"false\""), "{dom}");
        assert_eq!(texts(&dom, "class=\"add\""), ["+    # reviewed"]);
        assert!(
            dom.contains("data-role=\"additional\" data-status=\"unchanged\""),
            "{dom}"
        );
    }

    // Only one side's bytes is a usage error.
    let mut args = vec!["diff", &v1.0, &v2.0, "--membership", &pm, "--old-files"];
    args.extend(v1.1.iter().map(String::as_str));
    sb.provider(&dir, &args).expect(2);
}
