//! Validation of each section of the file: `[template]` (with its entry point, tables,
//! parameters and tags), `[bundle]` and `[bundle.target]`, `[publish]` and `[local]`. Every
//! error names the key and the line it is on.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Component, Path};

use toml::Spanned;

use super::raw::{RawBundle, RawLocal, RawParameter, RawPublish, RawTarget, RawTemplate};
use super::{
    BundleSpec, LocalConfig, Parameter, ProjectError, PublishConfig, Template, VenvSpec, sample_format_ok,
};
use crate::validate;
use crate::venv::target::Target;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Validator<'_> {
    fn line_of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn invalid(&self, span: Range<usize>, key: &str, message: String) -> ProjectError {
        ProjectError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span),
            key: key.to_string(),
            message,
        }
    }

    /// The last component of `rel` becomes part of an S3 key: it must be a valid one.
    fn file_name_fits_s3_key(&self, rel: &str, span: Range<usize>, key: &str) -> Result<(), ProjectError> {
        let file_name = rel.rsplit('/').next().unwrap_or(rel);
        validate::s3_key(file_name).map_err(|m| {
            self.invalid(
                span,
                key,
                format!("the file name becomes part of an S3 key: {m}; rename the file"),
            )
        })
    }

    fn check(
        &self,
        value: &Spanned<String>,
        key: &str,
        f: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<(), ProjectError> {
        f(value.get_ref()).map_err(|m| self.invalid(value.span(), key, m))
    }

    /// A path inside the project: relative, no `..`, `/`-separated, normalised.
    fn relative_path(&self, value: &Spanned<String>, key: &str) -> Result<String, ProjectError> {
        let raw = value.get_ref();
        let p = Path::new(raw);
        if raw.is_empty() {
            return Err(self.invalid(value.span(), key, "the path is empty".to_string()));
        }
        if p.is_absolute() || raw.starts_with('/') || raw.starts_with('\\') {
            return Err(self.invalid(
                value.span(),
                key,
                format!("{raw:?} is absolute; paths are relative to the project directory"),
            ));
        }
        let mut parts = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.invalid(
                        value.span(),
                        key,
                        format!("{raw:?} uses `..`; every file must be inside the project"),
                    ));
                }
                _ => {
                    return Err(self.invalid(value.span(), key, format!("{raw:?} is not a relative path")));
                }
            }
        }
        if parts.is_empty() {
            return Err(self.invalid(
                value.span(),
                key,
                format!("{raw:?} names the project directory itself"),
            ));
        }
        Ok(parts.join("/"))
    }

    /// `[template]`: the name, description, entry point, tables, parameters and tags.
    pub(super) fn template(&self, t: RawTemplate) -> Result<Template, ProjectError> {
        self.check(&t.name, "template.name", validate::template_name)?;
        let description = match t.description {
            Some(d) => {
                self.check(&d, "template.description", validate::description)?;
                Some(d.into_inner())
            }
            None => None,
        };
        let entry_point = self.entry_point(&t.entry_point)?;
        let referenced_tables = self.referenced_tables(&t.referenced_tables)?;
        let parameters = self.parameters(&t.parameters)?;
        let tags = match t.tags {
            Some(tags) => self.tags(tags)?,
            None => BTreeMap::new(),
        };
        Ok(Template {
            name: t.name.into_inner(),
            description,
            entry_point,
            referenced_tables,
            error_messages: t.error_messages,
            parameters,
            tags,
        })
    }

    /// `template.entry_point`: one `.py` file inside the project whose name fits an S3 key.
    fn entry_point(&self, value: &Spanned<String>) -> Result<String, ProjectError> {
        let entry_point = self.relative_path(value, "template.entry_point")?;
        if !entry_point.ends_with(".py") {
            return Err(self.invalid(
                value.span(),
                "template.entry_point",
                format!("{entry_point:?} is not a .py file; the entry point is one Python file"),
            ));
        }
        self.file_name_fits_s3_key(&entry_point, value.span(), "template.entry_point")?;
        Ok(entry_point)
    }

    /// `template.referenced_tables`: valid names, none twice.
    fn referenced_tables(&self, tables: &[Spanned<String>]) -> Result<Vec<String>, ProjectError> {
        let mut seen = BTreeSet::new();
        let mut referenced_tables = Vec::new();
        for table in tables {
            self.check(table, "template.referenced_tables", validate::table_name)?;
            if !seen.insert(table.get_ref().clone()) {
                return Err(self.invalid(
                    table.span(),
                    "template.referenced_tables",
                    format!("{:?} is listed twice", table.get_ref()),
                ));
            }
            referenced_tables.push(table.get_ref().clone());
        }
        Ok(referenced_tables)
    }

    /// `[[template.parameters]]`: at most the service's number, valid names declared once, valid
    /// defaults.
    fn parameters(&self, raw: &[Spanned<RawParameter>]) -> Result<Vec<Parameter>, ProjectError> {
        if raw.len() > validate::limits::PARAMETERS_MAX {
            return Err(self.invalid(
                raw[validate::limits::PARAMETERS_MAX].span(),
                "template.parameters",
                format!(
                    "{} parameters declared; the service allows at most {}",
                    raw.len(),
                    validate::limits::PARAMETERS_MAX
                ),
            ));
        }
        let mut names = BTreeSet::new();
        let mut parameters = Vec::new();
        for p in raw {
            let p = p.get_ref();
            self.check(&p.name, "template.parameters.name", validate::parameter_name)?;
            if !names.insert(p.name.get_ref().clone()) {
                return Err(self.invalid(
                    p.name.span(),
                    "template.parameters.name",
                    format!("parameter {:?} is declared twice", p.name.get_ref()),
                ));
            }
            if let Some(d) = &p.default {
                self.check(d, "template.parameters.default", |val| {
                    validate::parameter_value(p.name.get_ref(), val)
                })?;
            }
            parameters.push(Parameter {
                name: p.name.get_ref().clone(),
                default: p.default.as_ref().map(|d| d.get_ref().clone()),
            });
        }
        Ok(parameters)
    }

    /// `[template.tags]`: at most the service's number, each key and value valid.
    fn tags(
        &self,
        tags: Spanned<BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>, ProjectError> {
        if tags.get_ref().len() > validate::limits::TAGS_MAX {
            return Err(self.invalid(
                tags.span(),
                "template.tags",
                format!("at most {} tags", validate::limits::TAGS_MAX),
            ));
        }
        for (k, val) in tags.get_ref() {
            if let Err(m) = validate::tag(k, val) {
                return Err(self.invalid(tags.span(), "template.tags", m));
            }
        }
        Ok(tags.into_inner())
    }

    /// `[publish]`: where and as whom templates are published.
    pub(super) fn publish(&self, p: RawPublish) -> Result<PublishConfig, ProjectError> {
        self.check(&p.bucket, "publish.bucket", validate::bucket)?;
        self.check(&p.role_arn, "publish.role_arn", validate::role_arn)?;
        self.check(&p.membership_id, "publish.membership_id", validate::membership_id)?;
        let prefix = match &p.prefix {
            Some(prefix) => self.publish_prefix(prefix)?,
            None => String::new(),
        };
        let region = match p.region {
            Some(r) => {
                self.check(&r, "publish.region", |r| {
                    if !r.is_empty()
                        && r.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        Ok(())
                    } else {
                        Err(format!("{r:?} is not an AWS region name like us-east-1"))
                    }
                })?;
                Some(r.into_inner())
            }
            None => None,
        };
        Ok(PublishConfig {
            bucket: p.bucket.into_inner(),
            prefix,
            role_arn: p.role_arn.into_inner(),
            membership_id: p.membership_id.into_inner(),
            region,
        })
    }

    /// `publish.prefix`, without its outer slashes: a valid S3 key of real segments, at most
    /// 512 characters.
    fn publish_prefix(&self, prefix: &Spanned<String>) -> Result<String, ProjectError> {
        let trimmed = prefix.get_ref().trim_matches('/').to_string();
        if !trimmed.is_empty() {
            self.check(prefix, "publish.prefix", |_| validate::s3_key(&trimmed))?;
            if trimmed
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            {
                return Err(self.invalid(
                    prefix.span(),
                    "publish.prefix",
                    format!("{:?} has an empty, `.` or `..` segment", prefix.get_ref()),
                ));
            }
            if trimmed.len() > 512 {
                return Err(self.invalid(
                    prefix.span(),
                    "publish.prefix",
                    "the prefix is longer than 512 characters".to_string(),
                ));
            }
        }
        Ok(trimmed)
    }

    /// `[local]`: sample files for referenced tables, `.csv` or `.parquet`, inside the project.
    pub(super) fn local(
        &self,
        l: &RawLocal,
        referenced_tables: &[String],
    ) -> Result<LocalConfig, ProjectError> {
        let mut local = LocalConfig::default();
        for (table, file) in &l.samples {
            if !referenced_tables.iter().any(|t| t == table.get_ref()) {
                return Err(self.invalid(
                    table.span(),
                    "local.samples",
                    format!(
                        "table {:?} is not in [template] referenced_tables ({}); samples are for referenced tables only",
                        table.get_ref(),
                        if referenced_tables.is_empty() {
                            "none declared".to_string()
                        } else {
                            referenced_tables.join(", ")
                        }
                    ),
                ));
            }
            let rel = self.relative_path(file, "local.samples")?;
            if !sample_format_ok(&rel) {
                return Err(self.invalid(
                    file.span(),
                    "local.samples",
                    format!(
                        "{rel:?} for table {:?} is neither .csv (with a header row) nor .parquet",
                        table.get_ref()
                    ),
                ));
            }
            local.samples.insert(table.get_ref().clone(), rel);
        }
        Ok(local)
    }

    /// `[bundle]`: which additional artifact, checked for contradictions.
    pub(super) fn bundle(&self, b: Spanned<RawBundle>) -> Result<BundleSpec, ProjectError> {
        let span = b.span();
        let b = b.into_inner();
        let format = match &b.format {
            None => None,
            Some(f) => match f.get_ref().as_str() {
                "venv" => Some(BundleFormat::Venv),
                "zip" => Some(BundleFormat::Zip),
                other => {
                    return Err(self.invalid(
                        f.span(),
                        "bundle.format",
                        format!("{other:?} is not a bundle format; use \"venv\" (the default) or \"zip\""),
                    ));
                }
            },
        };
        if let Some(archive) = b.archive {
            let conflict = [
                (b.include.is_some(), "include"),
                (b.requirements.is_some(), "requirements"),
                (b.format.is_some(), "format"),
                (b.target.is_some(), "target"),
            ]
            .into_iter()
            .find(|(set, _)| *set);
            if let Some((_, key)) = conflict {
                return Err(self.invalid(
                    archive.span(),
                    "bundle.archive",
                    format!(
                        "`archive` and `{key}` are both set, but a template has at most one additional \
                         artifact: `archive` passes a prebuilt file through, `{key}` builds one; keep one of them"
                    ),
                ));
            }
            if !b.exclude.is_empty() {
                return Err(self.invalid(
                    b.exclude[0].span(),
                    "bundle.exclude",
                    "`exclude` applies to `include`; a prebuilt archive is passed through as it is"
                        .to_string(),
                ));
            }
            let rel = self.relative_path(&archive, "bundle.archive")?;
            self.file_name_fits_s3_key(&rel, archive.span(), "bundle.archive")?;
            return Ok(BundleSpec::Archive(rel));
        }
        if b.include.is_none() && b.requirements.is_none() {
            return Err(self.invalid(
                span,
                "bundle",
                "[bundle] needs `include` (your modules), `requirements` (a hash-pinned requirements \
                 file) or `archive` (a prebuilt .tar.gz); remove the section for no additional artifact"
                    .to_string(),
            ));
        }
        let include = match &b.include {
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    span,
                    "bundle.include",
                    "`include` is empty; list files or directories, or remove it".to_string(),
                ));
            }
            Some(list) => list
                .iter()
                .map(|i| self.relative_path(i, "bundle.include"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let mut exclude = Vec::new();
        for e in &b.exclude {
            if let Err(err) = globset::Glob::new(e.get_ref()) {
                return Err(self.invalid(
                    e.span(),
                    "bundle.exclude",
                    format!("{:?} is not a valid glob: {err}", e.get_ref()),
                ));
            }
            exclude.push(e.get_ref().clone());
        }
        if format == Some(BundleFormat::Zip) {
            if let Some(r) = &b.requirements {
                return Err(self.invalid(
                    r.span(),
                    "bundle.requirements",
                    "third-party packages need the venv format: remove `format = \"zip\"` (a zip holds only \
                     your own modules)"
                        .to_string(),
                ));
            }
            if let Some(t) = &b.target {
                return Err(self.invalid(
                    t.span(),
                    "bundle.target",
                    "[bundle.target] applies to the venv format; remove it or `format = \"zip\"`".to_string(),
                ));
            }
            return Ok(BundleSpec::Sources { include, exclude });
        }
        let requirements = match &b.requirements {
            Some(r) => Some(self.relative_path(r, "bundle.requirements")?),
            None => None,
        };
        let target = match b.target {
            Some(t) => self.target(t.into_inner())?,
            None => Target::default(),
        };
        Ok(BundleSpec::Venv(VenvSpec {
            include,
            exclude,
            requirements,
            target,
        }))
    }

    /// `[bundle.target]`: overrides of today's runtime, each checked for shape.
    fn target(&self, t: RawTarget) -> Result<Target, ProjectError> {
        let mut target = Target::default();
        if let Some(arch) = &t.arch {
            self.check(arch, "bundle.target.arch", |a| {
                if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    Ok(())
                } else {
                    Err(format!(
                        "{a:?} is not a CPU name as wheel tags write it (aarch64, x86_64)"
                    ))
                }
            })?;
            target.arch = arch.get_ref().clone();
        }
        let pair = |value: &Spanned<String>, key: &str, example: &str| -> Result<(u32, u32), ProjectError> {
            value
                .get_ref()
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| {
                    self.invalid(
                        value.span(),
                        key,
                        format!(
                            "{:?} is not a MAJOR.MINOR version like {example}",
                            value.get_ref()
                        ),
                    )
                })
        };
        if let Some(g) = &t.glibc {
            target.glibc = pair(g, "bundle.target.glibc", "2.34")?;
        }
        if let Some(p) = &t.python {
            target.python = pair(p, "bundle.target.python", "3.11")?;
            target.interpreter = format!("/usr/bin/python{}", target.python_version());
            target.python_full = target.python_version();
        }
        if let Some(full) = &t.python_full {
            let prefix = format!("{}.", target.python_version());
            self.check(full, "bundle.target.python_full", |f| {
                if f.starts_with(&prefix)
                    && f[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
                    && f.len() > prefix.len()
                {
                    Ok(())
                } else {
                    Err(format!("{f:?} is not a {}.N version", target.python_version()))
                }
            })?;
            target.python_full = full.get_ref().clone();
        }
        if let Some(i) = &t.interpreter {
            self.check(i, "bundle.target.interpreter", |p| {
                if p.starts_with('/') && !p.contains(char::is_whitespace) {
                    Ok(())
                } else {
                    Err(format!("{p:?} is not an absolute path to the runtime's python"))
                }
            })?;
            target.interpreter = i.get_ref().clone();
        }
        Ok(target)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BundleFormat {
    Venv,
    Zip,
}
