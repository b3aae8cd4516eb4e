//! Human renderings shared by several commands: a job, a result's preview, a verification, an
//! environment build's progress. Everything that came from a service, an archive, a data file or
//! a file name is escaped.

use crpack_core::explain;
use crpack_core::jobs::JobReport;
use crpack_core::report::{Outcome, Verdict, VerifyReport};
use crpack_core::text::human_bytes;
use crpack_core::venv::EnvEvent;

use crate::cli::Context;
use crate::output::{Output, escape, table};

/// Prints a job for humans. Everything in it came from the service, so it is escaped.
pub fn print_job(out: &Output, j: &JobReport) {
    let status = escape(&j.status);
    let status = match j.status.as_str() {
        "SUCCESS" => out.good(&status),
        "FAILED" | "CANCELLED" => out.bad(&status),
        _ => status.into_owned(),
    };
    out.line(format!("job       {}", escape(&j.id)));
    out.line(format!("status    {status}"));
    if let Some(t) = &j.template_arn {
        out.line(format!("template  {}", escape(t)));
    }
    out.line(format!("created   {}", escape(&j.created)));
    if let Some(d) = j.duration_ms {
        out.line(format!("duration  {:.1} s", d as f64 / 1000.0));
    }
    if let (Some(kind), Some(n)) = (&j.worker_type, j.workers) {
        out.line(format!("compute   {n} × {}", escape(kind)));
    }
    for (k, v) in &j.spark_properties {
        out.line(format!("spark     {} = {}", escape(k), escape(v)));
    }
    if let Some(p) = &j.payer_account_id {
        out.line(format!("payer     account {}", escape(p)));
    }
    if let Some(u) = j.billed_crpu {
        out.line(format!("billed    {u:.3} CRPU"));
    }
    if let Some(l) = &j.result_location {
        out.line(format!("results   {}", escape(l)));
    }
    if !j.result_members.is_empty() {
        let members: Vec<_> = j.result_members.iter().map(|m| escape(m)).collect();
        out.line(format!(
            "results   delivered to account(s) {}",
            members.join(", ")
        ));
    }
    if let (Some(c), Some(m)) = (&j.error_code, &j.error_message) {
        out.line(format!("error     {}: {}", escape(c), escape(m)));
    }
}

/// Who a CUSTOM rule's `allowedResultReceivers` lets receive results: `None` restricts no one.
pub fn receivers(allowed: Option<&[String]>) -> String {
    match allowed {
        None => "any receiver".to_string(),
        Some([]) => "no receiver".to_string(),
        Some(list) => {
            let list: Vec<_> = list.iter().map(|a| escape(a)).collect();
            format!("account(s) {} only", list.join(", "))
        }
    }
}

/// One result as `run --local` and `jobs results` preview it.
pub struct ResultPreview<'a> {
    pub name: &'a str,
    /// All its rows.
    pub rows: u64,
    /// Where it was written, as shown.
    pub location: &'a str,
    pub columns: Vec<&'a str>,
    /// The columns' types, when known (a second header line).
    pub types: Option<Vec<&'a str>>,
    /// The first rows, rendered.
    pub preview: &'a [Vec<String>],
}

/// Prints a result: its name, row count and place, then its columns and first rows as a table,
/// and how many rows were not shown. Names and cells come from the data, so they are escaped.
pub fn print_result_preview(out: &Output, r: &ResultPreview) {
    for line in result_preview_lines(out, r) {
        out.line(line);
    }
}

fn result_preview_lines(out: &Output, r: &ResultPreview) -> Vec<String> {
    let mut lines = vec![format!(
        "{}  {} row(s)  {}",
        out.strong(&escape(r.name)),
        r.rows,
        escape(r.location)
    )];
    let cells = |row: &[&str]| -> Vec<String> { row.iter().map(|c| escape(c).into_owned()).collect() };
    let mut rows = vec![cells(&r.columns)];
    if let Some(types) = &r.types {
        rows.push(cells(types));
    }
    rows.extend(
        r.preview
            .iter()
            .map(|row| row.iter().map(|c| escape(c).into_owned()).collect()),
    );
    lines.extend(table(&rows).into_iter().map(|line| format!("  {line}")));
    let shown_rows = r.preview.len() as u64;
    if r.rows > shown_rows {
        lines.push(format!("  ... {} more row(s)", r.rows - shown_rows));
    }
    lines
}

/// Prints the review summary and the verdicts. Everything the template, S3 or the archives
/// supplied (names, description, keys, versions, messages) is escaped before it is printed, so
/// a bidirectional override or a terminal escape cannot disguise what a reviewer approves.
pub fn print_verification(ctx: &Context, r: &VerifyReport) {
    let out = &ctx.out;
    let t = &r.template;
    out.line(format!("template    {}", out.strong(&escape(&t.name))));
    out.line(format!("arn         {}", escape(&t.arn)));
    if let Some(d) = &t.description {
        out.line(format!("description {}", escape(d)));
    }
    out.line(format!("creator     account {}", escape(&t.creator_account_id)));
    let format = if t.format == "PYSPARK_1_0" {
        t.format.clone()
    } else {
        out.bad(&escape(&t.format))
    };
    out.line(format!("format      {format}"));
    let tables: Vec<_> = t.referenced_tables.iter().map(|n| escape(n)).collect();
    out.line(format!("tables      {}", tables.join(", ")));
    if t.parameters.is_empty() {
        out.line("parameters  (none)");
    }
    for (i, p) in t.parameters.iter().enumerate() {
        out.line(format!(
            "{}{} ({}{})",
            if i == 0 { "parameters  " } else { "            " },
            escape(&p.name),
            escape(&p.kind),
            p.default
                .as_ref()
                // Debug quoting escapes control and format characters too (as `\u{202e}`).
                .map(|d| format!(", default {d:?}"))
                .unwrap_or_default()
        ));
    }
    let errors = if t.error_messages == "DETAILED" {
        out.caution("DETAILED (may expose data to the result receiver)")
    } else {
        escape(&t.error_messages).into_owned()
    };
    out.line(format!("errors      {errors}"));
    out.line(format!(
        "role        {}",
        t.role_arn.as_deref().map_or("(not shown)".into(), escape)
    ));
    for (i, a) in r.my_tables.iter().flatten().enumerate() {
        let allowed = if a.allowed {
            out.good("allows this template")
        } else {
            "does not allow this template yet".to_string()
        };
        out.line(format!(
            "{}{} {allowed}; results to {}",
            if i == 0 { "your tables " } else { "            " },
            escape(&a.table),
            receivers(a.allowed_result_receivers.as_deref())
        ));
    }
    out.line(String::new());
    out.line(format!("verdicts (source: {})", r.source));
    for c in &r.checks {
        let v = match c.verdict {
            Verdict::Match => out.good("match      "),
            other => out.bad(&format!("{:<10} ", other.as_str().to_uppercase())),
        };
        out.line(format!("  {v}{:<12} {}", c.role.as_str(), escape(&c.location)));
        out.line(format!(
            "            expected {}",
            c.expected_sha256
                .as_deref()
                .map_or("(none recorded)".into(), escape)
        ));
        if let Some(a) = &c.actual_sha256 {
            out.line(format!(
                "            actual   {a}{}",
                c.checked
                    .as_ref()
                    .map(|p| format!("  ({})", escape(p)))
                    .unwrap_or_default()
            ));
        }
        if let Some(v) = &c.matching_version_id {
            out.line(format!(
                "            version {} holds the recorded bytes",
                escape(v)
            ));
        }
        if let Some(d) = &c.detail {
            out.line(format!("            {}", escape(d)));
        }
        if let Some(e) = &c.explanation {
            for l in explain::render(e) {
                out.line(format!("            {l}"));
            }
        }
    }
    for p in &r.problems {
        out.line(format!("  {} {}", out.bad("problem"), escape(p)));
    }
    for w in &r.warnings {
        out.warn(w);
    }
    out.line(String::new());
    match r.outcome {
        Outcome::Verified => {
            out.line(out.good("verified: every artifact matches the hashes the template records"))
        }
        Outcome::Failed => {
            out.line(out.bad(&format!("verification FAILED: {} problem(s)", r.failures().len())))
        }
        Outcome::Unchecked => out.line(out.caution(&format!(
            "could not verify: {} artifact(s) could not be read (nothing is known to differ); fix the access \
             and run again, or verify from another source",
            r.checks.iter().filter(|c| c.verdict == Verdict::Unreadable).count()
        ))),
    }
}

/// Renders an environment build's progress on stderr: one line per wheel step, and a byte bar
/// while the archive is written (on a terminal only).
pub fn env_progress(ctx: &Context) -> impl FnMut(EnvEvent) + '_ {
    let mut bar: Option<indicatif::ProgressBar> = None;
    move |event| match event {
        EnvEvent::Fetch(f) => ctx.out.info(f.to_string()),
        EnvEvent::Planned { entries, bytes } => {
            ctx.out.debug(format!(
                "writing the environment: {entries} entries, {} installed",
                human_bytes(bytes)
            ));
            if bytes >= 32 << 20 {
                bar = Some(ctx.out.byte_bar(bytes, "environment"));
            }
        }
        EnvEvent::Written { bytes, total } => {
            if let Some(b) = &bar {
                b.set_position(bytes);
                if bytes >= total {
                    b.finish_and_clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_preview_aligns_escapes_and_counts_what_it_hides() {
        let preview = vec![
            vec!["online".to_string(), "2".to_string()],
            vec!["re\u{202e}tail".to_string(), "10".to_string()],
        ];
        let r = ResultPreview {
            name: "over\u{1b}[2Jlap",
            rows: 5,
            location: "out/overlap",
            columns: vec!["segment", "customers"],
            types: Some(vec!["string", "bigint"]),
            preview: &preview,
        };
        assert_eq!(
            result_preview_lines(&Output::plain(false), &r),
            [
                "over\\u{001B}[2Jlap  5 row(s)  out/overlap",
                "  segment         customers",
                "  string          bigint",
                "  online          2",
                "  re\\u{202E}tail  10",
                "  ... 3 more row(s)",
            ]
        );
        // Without types (run --local), and with every row shown, neither extra line appears.
        let r = ResultPreview {
            rows: 2,
            types: None,
            ..r
        };
        let lines = result_preview_lines(&Output::plain(false), &r);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[1], "  segment         customers");
    }
}
