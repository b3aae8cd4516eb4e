//! The review as one self-contained HTML page: no script, no network, no external asset; the
//! styles are inline, so the file reads the same opened from disk, mailed, or archived for an
//! audit. Every text from a template, an archive or the code is HTML-escaped, and control and
//! bidirectional format characters are shown as visible `\u{…}` marks, so nothing in the page can
//! reorder or hide what a reviewer reads.

use std::fmt::Write as _;

use crate::diagnostic::Severity;
use crate::explain;
use crate::report::{ArtifactCheck, Outcome, Verdict};
use crate::review::diff::{self, ArtifactStatus, TemplateDiff};
use crate::review::document::{EntryPointView, Inventory, ReadKind, ReviewDocument};
use crate::review::highlight;
use crate::text::is_invisible;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.banner{padding:14px 18px;border-radius:6px;font-weight:600;margin:12px 0}
.banner.pass{background:#e3f5e8;color:#11602b;border:1px solid #9fd8b0}
.banner.fail{background:#fde8e8;color:#8a1111;border:1px solid #f0a8a8}
.banner.unchecked{background:#fff3cd;color:#7a5300;border:1px solid #f0d48a}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border:1px solid #e1e4ea}
th{background:#eef0f4;font-weight:600}
code,.hash,pre{font-family:ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace;font-size:12.5px}
.hash{word-break:break-all}.loc{word-break:break-all}
#artifacts td:nth-child(1){width:52%}#artifacts td:nth-child(2){width:10%}
.verdict{font-weight:700;text-transform:uppercase}
.v-match{color:#11602b}.v-mismatch,.v-missing{color:#8a1111}.v-unreadable{color:#8a5a00}
.flag{background:#fff3cd;color:#7a5300;padding:1px 6px;border-radius:3px;font-weight:600}
.muted{color:#667085}
ul.findings li.error{color:#8a1111}ul.findings li.warning{color:#7a5300}
.code{background:#fff;border:1px solid #e1e4ea;overflow-x:auto}
.code table{border:0;width:auto;min-width:100%}
.code td{border:0;padding:0 10px;white-space:pre}
.code td.ln{color:#98a2b3;text-align:right;user-select:none;border-right:1px solid #e1e4ea;background:#fafbfc}
.code tr.hit td.src{background:#fff8e1}
.code tr.note td{white-space:normal;padding:3px 10px 5px 40px;font-size:12.5px}
.code tr.note.error td{background:#fde8e8;color:#8a1111}.code tr.note.warning td{background:#fff3cd;color:#7a5300}
.kw{color:#8839ef;font-weight:600}.st{color:#1a7f37}.cm{color:#6e7781;font-style:italic}
.nu{color:#b35900}.df{color:#0550ae;font-weight:600}.co{color:#b35900;font-weight:600}
.udiff tr.add td{background:#e6ffec}.udiff tr.del td{background:#ffebe9}
.udiff tr.hunk td{color:#0550ae;background:#f0f6ff}.udiff tr.file td{font-weight:600}
pre.archive-diff{background:#fff;border:1px solid #e1e4ea;padding:8px;overflow-x:auto}
h3{font-size:15px;margin:18px 0 6px}
.inv{background:#ffd6d6;color:#8a1111;border-radius:2px;padding:0 2px}
footer{margin-top:32px;color:#667085;font-size:12.5px}
";

/// The page for `doc`.
pub fn render(doc: &ReviewDocument) -> String {
    let r = &doc.report;
    let t = &r.template;
    let mut h = String::with_capacity(64 * 1024);
    head(&mut h, &format!("Review of {}", t.name));
    let _ = writeln!(
        h,
        "<h1>Review of analysis template <span id=\"template-name\">{}</span></h1>",
        text(&t.name)
    );
    let _ = writeln!(
        h,
        "<div class=\"muted\"><code id=\"template-arn\">{}</code></div>",
        text(&t.arn)
    );
    let (class, verdict) = if r.ok {
        (
            "pass",
            "Verified: every artifact is exactly the bytes the template records",
        )
    } else {
        ("fail", "Not verified: do not approve this template")
    };
    let _ = writeln!(
        h,
        "<div id=\"overall\" class=\"banner {class}\" data-ok=\"{}\" data-outcome=\"{}\">{verdict}</div>",
        r.ok,
        outcome_name(r.outcome)
    );

    summary(&mut h, doc);
    artifacts(&mut h, &r.checks, &r.source);
    findings(&mut h, "problems", "Problems", &r.problems);
    findings(&mut h, "warnings", "Warnings", &r.warnings);
    if let Some(p) = &doc.policy {
        let _ = writeln!(h, "<h2>Policy <code>{}</code></h2>", text(&p.file));
        if p.violations.is_empty() {
            h.push_str("<p id=\"policy\" data-violations=\"0\">The template satisfies the policy.</p>\n");
        } else {
            let _ = writeln!(
                h,
                "<ul id=\"policy\" class=\"findings\" data-violations=\"{}\">",
                p.violations.len()
            );
            for v in &p.violations {
                let _ = writeln!(h, "<li class=\"error\">{}</li>", text(v));
            }
            h.push_str("</ul>\n");
        }
    }
    match &doc.entry_point {
        Some(ep) => entry_point(&mut h, ep),
        None => h.push_str(
            "<h2>Entry point</h2>\n<p id=\"code-missing\" class=\"muted\">The entry point's bytes were not at hand \
             (or are not UTF-8 text): verify with --files, --from-s3, --source or --lock to read its code here.</p>\n",
        ),
    }
    if let Some(inv) = &doc.inventory {
        inventory(&mut h, inv);
    }
    foot(&mut h, &doc.crpack_version, &doc.generated_at, Some(&r.source));
    h
}

fn summary(h: &mut String, doc: &ReviewDocument) {
    let t = &doc.report.template;
    h.push_str("<h2>Template</h2>\n<table id=\"summary\">\n");
    let mut row = |label: &str, id: &str, value: String| {
        let _ = writeln!(h, "<tr><th>{label}</th><td id=\"{id}\">{value}</td></tr>");
    };
    row("Name", "s-name", text(&t.name));
    row("ARN", "s-arn", format!("<code>{}</code>", text(&t.arn)));
    if let Some(d) = &t.description {
        row("Description", "s-description", text(d));
    }
    row("Creator account", "s-creator", text(&t.creator_account_id));
    row("Collaboration", "s-collaboration", text(&t.collaboration_id));
    row("Format", "s-format", text(&t.format));
    row(
        "Referenced tables",
        "s-tables",
        if t.referenced_tables.is_empty() {
            "<span class=\"muted\">none</span>".into()
        } else {
            t.referenced_tables
                .iter()
                .map(|n| format!("<code>{}</code>", text(n)))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let errors = if t.error_messages == "DETAILED" {
        "<span class=\"flag\">DETAILED</span> failed jobs may show data (possibly PII) to the result receiver"
            .into()
    } else {
        text(&t.error_messages)
    };
    row("Error messages", "s-errors", errors);
    row(
        "Code-reading role",
        "s-role",
        t.role_arn
            .as_deref()
            .map(|r| format!("<code>{}</code>", text(r)))
            .unwrap_or_else(|| "<span class=\"muted\">none shown</span>".into()),
    );
    h.push_str("</table>\n");
    if let Some(tables) = &doc.report.my_tables {
        my_tables(h, tables);
    }

    h.push_str("<h2>Parameters</h2>\n");
    if t.parameters.is_empty() {
        h.push_str("<p id=\"parameters\" class=\"muted\">The template takes no parameters.</p>\n");
    } else {
        h.push_str(
            "<p class=\"muted\">Parameter values are chosen by whoever runs the job and are not reviewed: check \
             below how the code uses each one.</p>\n<table id=\"parameters\">\n<tr><th>Name</th><th>Type</th>\
             <th>Default</th></tr>\n",
        );
        for p in &t.parameters {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                text(&p.name),
                text(&p.kind),
                p.default
                    .as_deref()
                    .map(|d| format!("<code>{}</code>", text(d)))
                    .unwrap_or_else(|| "<span class=\"muted\">none</span>".into())
            );
        }
        h.push_str("</table>\n");
    }
}

/// The reviewer's tables the template reads: whether each allows it at review time, and who may
/// receive the results of jobs on it.
fn my_tables(h: &mut String, tables: &[crate::review::templates::TableAccess]) {
    h.push_str("<h2>Your tables</h2>\n");
    if tables.is_empty() {
        h.push_str("<p id=\"my-tables\" class=\"muted\">The template reads none of your tables.</p>\n");
        return;
    }
    h.push_str(
        "<table id=\"my-tables\">\n<tr><th>Table</th><th>Allows this template</th><th>Results may go to</th></tr>\n",
    );
    for a in tables {
        let receivers = match &a.allowed_result_receivers {
            None => "<span class=\"muted\">any receiver (the rule names none)</span>".to_string(),
            Some(list) if list.is_empty() => "<span class=\"flag\">no receiver</span>".to_string(),
            Some(list) => list
                .iter()
                .map(|r| format!("<code>{}</code>", text(r)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            h,
            "<tr data-table=\"{}\"><td><code>{}</code></td><td>{}</td><td>{receivers}</td></tr>",
            text(&a.table),
            text(&a.table),
            if a.allowed { "yes" } else { "not yet" },
        );
    }
    h.push_str("</table>\n");
}

fn artifacts(h: &mut String, checks: &[ArtifactCheck], source: &str) {
    let _ = writeln!(
        h,
        "<h2>Artifacts</h2>\n<p class=\"muted\">Each artifact's bytes (obtained from the <code>{}</code> source) \
         hashed and compared with the SHA-256 the service recorded in <code>sourceMetadata</code>.</p>",
        text(source)
    );
    h.push_str("<table id=\"artifacts\">\n<tr><th>Artifact</th><th>Verdict</th><th>SHA-256</th></tr>\n");
    for c in checks {
        let class = match c.verdict {
            Verdict::Match => "v-match",
            Verdict::Mismatch => "v-mismatch",
            Verdict::Missing => "v-missing",
            Verdict::Unreadable => "v-unreadable",
        };
        let mut from = c
            .checked
            .as_deref()
            .map(|p| format!("<code class=\"loc\">{}</code>", text(p)))
            .unwrap_or_else(|| "<span class=\"muted\">nowhere</span>".into());
        if let Some(v) = &c.version_id {
            let _ = write!(from, "<br><span class=\"muted\">version {}</span>", text(v));
        }
        if let Some(d) = &c.detail {
            let _ = write!(from, "<br>{}", text(d));
        }
        let _ = writeln!(
            h,
            "<tr class=\"artifact\" data-role=\"{role}\" data-verdict=\"{verdict}\"><td><b>{role}</b><br>\
             <code class=\"loc\">{loc}</code><br><span class=\"muted\">bytes from</span> {from}</td>\
             <td class=\"verdict {class}\">{verdict}</td><td><span class=\"muted\">recorded</span><br>\
             <span class=\"hash expected\">{exp}</span><br><span class=\"muted\">actual</span><br>\
             <span class=\"hash actual\">{act}</span></td></tr>",
            role = c.role,
            verdict = c.verdict.as_str(),
            loc = text(&c.location),
            exp = c.expected_sha256.as_deref().map(text).unwrap_or_default(),
            act = c.actual_sha256.as_deref().map(text).unwrap_or_default(),
        );
    }
    h.push_str("</table>\n");
}

fn findings(h: &mut String, id: &str, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>{title}</h2>\n<ul id=\"{id}\" class=\"findings\">");
    let class = if id == "problems" { "error" } else { "warning" };
    for p in items {
        let _ = writeln!(h, "<li class=\"{class}\">{}</li>", text(p));
    }
    h.push_str("</ul>\n");
}

fn entry_point(h: &mut String, ep: &EntryPointView) {
    let _ = writeln!(h, "<h2>Entry point <code>{}</code></h2>", text(&ep.file));
    // Where the code names each table and parameter.
    if !ep.reads.is_empty() {
        h.push_str("<table id=\"reads\">\n<tr><th>Reads</th><th>Name</th><th>Lines</th></tr>\n");
        for r in &ep.reads {
            let kind = match r.kind {
                ReadKind::Table => "table",
                ReadKind::Parameter => "parameter",
            };
            let lines = if r.lines.is_empty() {
                "<span class=\"muted\">never named in the code</span>".to_string()
            } else {
                r.lines
                    .iter()
                    .map(|l| format!("<a href=\"#L{l}\">{l}</a>"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                h,
                "<tr class=\"read\" data-kind=\"{kind}\" data-name=\"{name}\"><td>{kind}</td><td><code>{name}</code></td><td>{lines}</td></tr>",
                name = text(&r.name)
            );
        }
        h.push_str("</table>\n");
    }
    let unplaced: Vec<_> = ep.diagnostics.iter().filter(|d| d.line.is_none()).collect();
    if !unplaced.is_empty() {
        h.push_str("<ul class=\"findings\">\n");
        for d in unplaced {
            let _ = writeln!(
                h,
                "<li class=\"{}\">{}</li>",
                severity(d.severity),
                text(&d.to_string())
            );
        }
        h.push_str("</ul>\n");
    }
    let hits: std::collections::BTreeSet<usize> =
        ep.reads.iter().flat_map(|r| r.lines.iter().copied()).collect();
    h.push_str("<div class=\"code\"><table id=\"code\">\n");
    for (i, line) in highlighted_lines(&ep.source).iter().enumerate() {
        let n = i + 1;
        let class = if hits.contains(&n) { " class=\"hit\"" } else { "" };
        let _ = writeln!(
            h,
            "<tr id=\"L{n}\"{class}><td class=\"ln\">{n}</td><td class=\"src\">{line}</td></tr>"
        );
        for d in ep.diagnostics.iter().filter(|d| d.line == Some(n)) {
            let _ = writeln!(
                h,
                "<tr class=\"note {sev}\" data-line=\"{n}\" data-code=\"{code}\"><td></td><td>{sev}[{code}]: {msg}</td></tr>",
                sev = severity(d.severity),
                code = d.code,
                msg = text(&d.message)
            );
        }
    }
    h.push_str("</table></div>\n");
}

fn inventory(h: &mut String, inv: &Inventory) {
    match inv {
        Inventory::Environment {
            distributions,
            own_modules,
        } => {
            let _ = writeln!(
                h,
                "<h2>Additional artifact: a virtual environment</h2>\n<p>The project's own modules: \
                 <span id=\"own-modules\">{}</span></p>",
                if own_modules.is_empty() {
                    "<span class=\"muted\">none</span>".to_string()
                } else {
                    own_modules
                        .iter()
                        .map(|m| format!("<code>{}</code>", text(m)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            if distributions.is_empty() {
                h.push_str("<p id=\"distributions\" class=\"muted\">No third-party distributions.</p>\n");
                return;
            }
            let _ = writeln!(h, "<p>{} third-party distribution(s):</p>", distributions.len());
            h.push_str(
                "<table id=\"distributions\">\n<tr><th>Distribution</th><th>Version</th><th>License</th>\
                 <th>Code</th></tr>\n",
            );
            for d in distributions {
                let _ = writeln!(
                    h,
                    "<tr class=\"distribution\" data-name=\"{name}\"><td>{name}</td><td>{ver}</td><td>{lic}</td><td>{code}</td></tr>",
                    name = text(&d.name),
                    ver = text(&d.version),
                    lic = d
                        .license
                        .as_deref()
                        .map(text)
                        .unwrap_or_else(|| "<span class=\"muted\">not stated</span>".into()),
                    code = if d.native {
                        "<span class=\"flag\">native</span>"
                    } else {
                        "pure Python"
                    }
                );
            }
            h.push_str("</table>\n");
        }
        Inventory::Archive { entries } => {
            let _ = writeln!(h, "<h2>Additional artifact: {} entries</h2>", entries.len());
            h.push_str("<table id=\"entries\">\n<tr><th>Entry</th><th>Size</th></tr>\n");
            for e in entries {
                let _ = writeln!(
                    h,
                    "<tr class=\"entry\"><td><code>{}</code></td><td>{}</td></tr>",
                    text(&e.name),
                    crate::text::human_bytes(e.size)
                );
            }
            h.push_str("</table>\n");
        }
    }
}

/// The page for a comparison of two templates.
pub fn render_diff(d: &TemplateDiff, crpack_version: &str, generated_at: &str) -> String {
    let mut h = String::with_capacity(32 * 1024);
    head(&mut h, &format!("Changes from {} to {}", d.old.name, d.new.name));
    let _ = writeln!(
        h,
        "<h1>Changes from <span id=\"old-name\">{}</span> to <span id=\"new-name\">{}</span></h1>",
        text(&d.old.name),
        text(&d.new.name)
    );
    let _ = writeln!(
        h,
        "<div class=\"muted\">old <code id=\"old-arn\">{}</code><br>new <code id=\"new-arn\">{}</code></div>",
        text(&d.old.arn),
        text(&d.new.arn)
    );
    let (class, verdict) = if d.identical {
        (
            "pass",
            "Identical: the same metadata and byte-identical artifacts",
        )
    } else {
        (
            "unchecked",
            "The templates differ: review the changes below before approving the new one",
        )
    };
    let _ = writeln!(
        h,
        "<div id=\"overall\" class=\"banner {class}\" data-identical=\"{}\">{verdict}</div>",
        d.identical
    );
    h.push_str("<h2>Metadata</h2>\n");
    if d.metadata.is_empty() {
        h.push_str("<p id=\"metadata\" class=\"muted\">No metadata changed.</p>\n");
    } else {
        h.push_str("<table id=\"metadata\">\n<tr><th>Field</th><th>Old</th><th>New</th></tr>\n");
        for c in &d.metadata {
            let _ = writeln!(
                h,
                "<tr class=\"field\" data-field=\"{f}\"><td>{f}</td><td class=\"old\"><code>{o}</code></td>\
                 <td class=\"new\"><code>{n}</code></td></tr>",
                f = c.field,
                o = text(&diff::shown(&c.old)),
                n = text(&diff::shown(&c.new))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Artifacts</h2>\n");
    for a in &d.artifacts {
        let status = match a.status {
            ArtifactStatus::Unchanged => "unchanged",
            ArtifactStatus::Changed => "changed",
            ArtifactStatus::Added => "added",
            ArtifactStatus::Removed => "removed",
        };
        let _ = writeln!(
            h,
            "<h3 class=\"artifact\" data-role=\"{role}\" data-status=\"{status}\">{role}: {status}</h3>\n\
             <table><tr><th>Old SHA-256</th><td class=\"hash old\">{o}</td></tr><tr><th>New SHA-256</th>\
             <td class=\"hash new\">{n}</td></tr></table>",
            role = a.role,
            o = a.old_sha256.as_deref().map(text).unwrap_or_default(),
            n = a.new_sha256.as_deref().map(text).unwrap_or_default(),
        );
        if let Some(lines) = &a.code_diff {
            let _ = writeln!(
                h,
                "<div class=\"code\"><table class=\"udiff\" data-role=\"{}\">",
                a.role
            );
            for l in lines {
                let class = if l.starts_with("@@") {
                    "hunk"
                } else if l.starts_with("+++") || l.starts_with("---") {
                    "file"
                } else if l.starts_with('+') {
                    "add"
                } else if l.starts_with('-') {
                    "del"
                } else {
                    "ctx"
                };
                let _ = writeln!(h, "<tr class=\"{class}\"><td class=\"src\">{}</td></tr>", text(l));
            }
            h.push_str("</table></div>\n");
        }
        if let Some(ad) = &a.archive_diff {
            let _ = writeln!(
                h,
                "<pre class=\"archive-diff\">{}</pre>",
                explain::render(ad)
                    .iter()
                    .map(|l| text(l))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        if let Some(n) = &a.note {
            let _ = writeln!(h, "<p class=\"muted note\">{}</p>", text(n));
        }
    }
    foot(&mut h, crpack_version, generated_at, None);
    h
}

/// The document's head, the styles and the opening of the page.
fn head(h: &mut String, title: &str) {
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    let _ = writeln!(h, "<title>{}</title>", text(title));
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
}

/// Who made the page and when, and the end of the document.
fn foot(h: &mut String, crpack_version: &str, generated_at: &str, source: Option<&str>) {
    let _ = write!(
        h,
        "<footer>Made by crpack <span id=\"crpack-version\">{}</span> at <time id=\"generated-at\">{}</time>",
        text(crpack_version),
        text(generated_at),
    );
    if let Some(s) = source {
        let _ = write!(h, " from the <code>{}</code> source", text(s));
    }
    h.push_str(".</footer>\n</main>\n</body>\n</html>\n");
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Verified => "verified",
        Outcome::Failed => "failed",
        Outcome::Unchecked => "unchecked",
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The source as HTML lines: highlighted spans, escaped text, invisible characters made visible.
/// A span that runs over several lines (a docstring) is closed and reopened on each line.
fn highlighted_lines(source: &str) -> Vec<String> {
    let spans = highlight::spans(source);
    let mut lines = vec![String::new()];
    let mut pos = 0;
    let emit = |from: usize, to: usize, class: Option<&str>, lines: &mut Vec<String>| {
        for (i, piece) in source[from..to].split('\n').enumerate() {
            if i > 0 {
                lines.push(String::new());
            }
            let Some(line) = lines.last_mut().filter(|_| !piece.is_empty()) else {
                continue;
            };
            match class {
                Some(c) => {
                    let _ = write!(line, "<span class=\"{c}\">{}</span>", text(piece));
                }
                None => line.push_str(&text(piece)),
            }
        }
    };
    for s in &spans {
        if s.start < pos || !source.is_char_boundary(s.start) || !source.is_char_boundary(s.end) {
            continue;
        }
        emit(pos, s.start, None, &mut lines);
        emit(s.start, s.end, Some(s.class.css()), &mut lines);
        pos = s.end;
    }
    emit(pos, source.len(), None, &mut lines);
    if source.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// Text safe in HTML content and attribute values: `& < > " '` escaped, and every control or
/// format character (bidi overrides, zero-width characters) shown as a visible mark.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push('\t'),
            c if is_invisible(c) => {
                let _ = write!(
                    out,
                    "<span class=\"inv\" title=\"invisible character\">\\u{{{:04X}}}</span>",
                    c as u32
                );
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_and_shows_invisible_characters() {
        assert_eq!(text("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert!(text("a\u{202E}b").contains(">\\u{202E}</span>"));
        assert!(!text("a\u{202E}b").contains('\u{202E}'));
        assert_eq!(text("tab\there"), "tab\there");
    }

    #[test]
    fn lines_keep_count_and_highlight_multiline_strings_per_line() {
        let src = "x = \"\"\"a\nb <c>\"\"\"\n# done\n";
        let lines = highlighted_lines(src);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "x = <span class=\"st\">&quot;&quot;&quot;a</span>");
        assert_eq!(
            lines[1],
            "<span class=\"st\">b &lt;c&gt;&quot;&quot;&quot;</span>"
        );
        assert_eq!(lines[2], "<span class=\"cm\"># done</span>");
        assert_eq!(highlighted_lines("no newline").len(), 1);
        assert_eq!(highlighted_lines("").len(), 1);
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::report::{TemplateSummary, VerifyReport};
    use crate::review::document::{EntryPointView, PolicyResult, ReviewDocument};

    fn document(
        error_messages: &str,
        diagnostics: Vec<Diagnostic>,
        violations: Vec<String>,
    ) -> ReviewDocument {
        let source = "def entrypoint(context):\n    import socket\n    return {}\n".to_string();
        ReviewDocument {
            report: VerifyReport {
                ok: true,
                outcome: Outcome::Verified,
                source: "files".into(),
                template: TemplateSummary {
                    arn: "arn:t".into(),
                    name: "t<script>".into(),
                    description: None,
                    creator_account_id: "111111111111".into(),
                    collaboration_id: "c".into(),
                    format: "PYSPARK_1_0".into(),
                    referenced_tables: vec!["orders".into()],
                    parameters: vec![],
                    error_messages: error_messages.into(),
                    role_arn: None,
                    artifacts: vec![],
                },
                checks: vec![],
                problems: vec![],
                warnings: vec![],
                my_tables: None,
            },
            entry_point: Some(EntryPointView::new(
                "entrypoint.py".into(),
                source,
                diagnostics,
                &["orders".into()],
                &[],
            )),
            inventory: None,
            policy: Some(PolicyResult {
                file: "policy.toml".into(),
                violations,
            }),
            crpack_version: "0.1.0".into(),
            generated_at: "2026-12-02T00:00:00Z".into(),
        }
    }

    #[test]
    fn findings_sit_under_their_line_and_policy_and_detailed_are_shown() {
        let finding = Diagnostic::error(
            "network-import",
            "entrypoint.py",
            "socket: no network on the runtime",
        )
        .at(2, 5);
        let page = render(&document(
            "DETAILED",
            vec![finding],
            vec!["DETAILED errors are not allowed".into()],
        ));
        let line2 = page.find("<tr id=\"L2\"").unwrap();
        let note = page.find("data-line=\"2\" data-code=\"network-import\"").unwrap();
        let line3 = page.find("<tr id=\"L3\"").unwrap();
        assert!(
            line2 < note && note < line3,
            "the finding sits between lines 2 and 3"
        );
        assert!(page.contains("error[network-import]: socket: no network on the runtime"));
        assert!(page.contains("<span class=\"flag\">DETAILED</span>"));
        assert!(page.contains("data-violations=\"1\"") && page.contains("DETAILED errors are not allowed"));
        assert!(page.contains("t&lt;script&gt;") && !page.contains("t<script>"));
        assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
        let clean = render(&document("BASIC", vec![], vec![]));
        assert!(clean.contains("data-violations=\"0\"") && !clean.contains("class=\"flag\""));
        assert!(!clean.contains("id=\"code-missing\""));
        assert!(!clean.contains("Your tables"), "only through a membership");
    }

    #[test]
    fn your_tables_show_who_may_receive_results() {
        use crate::review::templates::TableAccess;
        let mut doc = document("BASIC", vec![], vec![]);
        let access = |table: &str, allowed: bool, receivers: Option<Vec<String>>| TableAccess {
            table: table.into(),
            configured_table_id: format!("ct-{table}"),
            allowed,
            reason: if allowed { "arn" } else { "not_listed" },
            allowed_result_receivers: receivers,
        };
        doc.report.my_tables = Some(vec![
            access("orders", true, Some(vec!["111111111111".into()])),
            access("customers", false, None),
            access("<b>", true, Some(vec![])),
        ]);
        let page = render(&doc);
        let row = |t: &str| {
            let start = page.find(&format!("<tr data-table=\"{t}\">")).unwrap();
            page[start..start + page[start..].find("</tr>").unwrap()].to_string()
        };
        assert!(
            row("orders").contains("<td>yes</td><td><code>111111111111</code></td>"),
            "{page}"
        );
        assert!(row("customers").contains("not yet") && row("customers").contains("any receiver"));
        assert!(row("&lt;b&gt;").contains("no receiver"), "{page}");
        assert!(!page.contains("<b>"), "names are escaped");
    }
}
