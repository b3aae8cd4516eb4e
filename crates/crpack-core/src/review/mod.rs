//! The reviewer's desk: what awaits review in a collaboration ([`templates`]), and a review a
//! person reads ([`document`] rendered by [`html`], with [`highlight`]ed code).

pub mod diff;
pub mod document;
pub mod highlight;
pub mod html;
pub mod inventory;
pub mod obtain;
pub mod templates;

use std::io::Read as _;

use crate::artifact::Role;
use crate::pycheck::{self, Declared};
use crate::report::VerifyReport;
use document::{EntryPointView, PolicyResult, ReviewDocument};
use obtain::Obtained;

/// The largest entry point the review shows (the service's own limit for code is far below).
const MAX_SOURCE: u64 = 8 << 20;

/// The review of a finished verification: the report, the entry point's code with the static
/// check's findings and the places it names each table and parameter, and the policy's result.
pub fn document(
    report: VerifyReport,
    obtained: &Obtained,
    policy: Option<PolicyResult>,
    generated_at: String,
) -> ReviewDocument {
    let entry_point = obtained
        .path(Role::EntryPoint)
        .and_then(|p| read_text(p).ok())
        .map(|source| {
            let t = &report.template;
            let file = t
                .artifacts
                .iter()
                .find(|a| a.role == Role::EntryPoint)
                .map(|a| a.file_name.clone())
                .unwrap_or_else(|| "entrypoint.py".into());
            let parameters: Vec<String> = t.parameters.iter().map(|p| p.name.clone()).collect();
            let declared = Declared {
                tables: &t.referenced_tables,
                parameters: &parameters,
            };
            let diagnostics = pycheck::check_entry_point(&file, &source, &declared).diagnostics;
            EntryPointView::new(file, source, diagnostics, &t.referenced_tables, &parameters)
        });
    let inventory = obtained
        .path(Role::Additional)
        .and_then(|p| inventory::of(p).ok());
    ReviewDocument {
        report,
        entry_point,
        inventory,
        policy,
        crpack_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at,
    }
}

/// A UTF-8 text file of at most [`MAX_SOURCE`] bytes.
fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SOURCE)
        .read_to_string(&mut text)?;
    Ok(text)
}
