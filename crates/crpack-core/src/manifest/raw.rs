//! The file as written: what serde reads, with the spans kept for error lines.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ErrorMessages;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) template: RawTemplate,
    pub(super) bundle: Option<Spanned<RawBundle>>,
    pub(super) publish: Option<RawPublish>,
    pub(super) local: Option<RawLocal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplate {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) description: Option<Spanned<String>>,
    pub(super) entry_point: Spanned<String>,
    #[serde(default)]
    pub(super) referenced_tables: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) error_messages: ErrorMessages,
    #[serde(default)]
    pub(super) parameters: Vec<Spanned<RawParameter>>,
    #[serde(default)]
    pub(super) tags: Option<Spanned<BTreeMap<String, String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParameter {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) default: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBundle {
    #[serde(default)]
    pub(super) include: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) archive: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) requirements: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) format: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) target: Option<Spanned<RawTarget>>,
}

/// `[bundle.target]`: the runtime the environment is built for, when it is not today's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    #[serde(default)]
    pub(super) arch: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) glibc: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) python: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) python_full: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) interpreter: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    pub(super) bucket: Spanned<String>,
    #[serde(default)]
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) role_arn: Spanned<String>,
    pub(super) membership_id: Spanned<String>,
    #[serde(default)]
    pub(super) region: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    #[serde(default)]
    pub(super) samples: BTreeMap<Spanned<String>, Spanned<String>>,
}
