//! The template definition crpack registers, its digest (which names it), and the hashes the
//! service records in `sourceMetadata`.

use std::collections::BTreeMap;

use aws_sdk_cleanrooms::types::{
    AnalysisFormat, AnalysisParameter, AnalysisSchema, AnalysisSource, AnalysisSourceMetadata,
    AnalysisTemplate, AnalysisTemplateArtifact, AnalysisTemplateArtifacts, ErrorMessageConfiguration,
    ErrorMessageType, ParameterType, S3Location,
};
use serde::Serialize;

use super::PublishError;
use crate::artifact::Role;
use crate::aws;
use crate::digest::Sha256Digest;
use crate::error::Result;
use crate::manifest::{ErrorMessages, Project};
use crate::validate;

/// Where one artifact lives in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub role: Role,
    pub file_name: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub bucket: String,
    pub key: String,
}

/// Everything that goes into `CreateAnalysisTemplate`, in a canonical, hashable form.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub configured_name: String,
    pub description: Option<String>,
    pub format: &'static str,
    pub membership_id: String,
    pub role_arn: String,
    pub referenced_tables: Vec<String>,
    pub parameters: Vec<(String, Option<String>)>,
    pub error_messages: ErrorMessages,
    pub tags: BTreeMap<String, String>,
    pub artifacts: Vec<Placed>,
}

impl Definition {
    pub fn new(project: &Project, membership_id: &str, role_arn: &str, artifacts: Vec<Placed>) -> Self {
        let t = &project.template;
        Definition {
            configured_name: t.name.clone(),
            description: t.description.clone(),
            format: "PYSPARK_1_0",
            membership_id: membership_id.to_string(),
            role_arn: role_arn.to_string(),
            referenced_tables: t.referenced_tables.clone(),
            parameters: t
                .parameters
                .iter()
                .map(|p| (p.name.clone(), p.default.clone()))
                .collect(),
            error_messages: t.error_messages,
            tags: t.tags.clone(),
            artifacts,
        }
    }

    /// SHA-256 of the canonical JSON of the definition.
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(&serde_json::to_vec(self).expect("definition serialises"))
    }

    /// The registered name: the configured name plus 8 hex digits of the definition digest.
    /// Templates are immutable, so a changed definition gets a new, non-colliding name.
    pub fn registered_name(&self) -> String {
        let suffix = self.digest().short(8);
        let room = validate::limits::NAME_MAX - suffix.len() - 1;
        let base: String = self.configured_name.chars().take(room).collect();
        let base = base.trim_end_matches(['-', ' ']);
        let dashed = format!("{base}-{suffix}");
        if validate::template_name(&dashed).is_ok() {
            dashed
        } else {
            format!("{base}_{suffix}")
        }
    }

    /// The artifact in a role.
    pub fn artifact(&self, role: Role) -> Option<&Placed> {
        self.artifacts.iter().find(|a| a.role == role)
    }

    /// The `source` of the request.
    pub fn source(&self) -> Result<AnalysisSource> {
        let art = |p: &Placed| -> Result<AnalysisTemplateArtifact> {
            let loc = aws::built(
                "S3Location",
                S3Location::builder().bucket(&p.bucket).key(&p.key).build(),
            )?;
            Ok(AnalysisTemplateArtifact::builder().location(loc).build())
        };
        let entry = self
            .artifact(Role::EntryPoint)
            .ok_or(PublishError::NoEntryPoint)?;
        let mut b = AnalysisTemplateArtifacts::builder()
            .entry_point(art(entry)?)
            .role_arn(&self.role_arn);
        if let Some(add) = self.artifact(Role::Additional) {
            b = b.additional_artifacts(art(add)?);
        }
        Ok(AnalysisSource::Artifacts(aws::built(
            "AnalysisTemplateArtifacts",
            b.build(),
        )?))
    }

    pub fn schema(&self) -> AnalysisSchema {
        AnalysisSchema::builder()
            .set_referenced_tables(Some(self.referenced_tables.clone()))
            .build()
    }

    pub fn parameters(&self) -> Result<Option<Vec<AnalysisParameter>>> {
        if self.parameters.is_empty() {
            return Ok(None);
        }
        self.parameters
            .iter()
            .map(|(name, default)| {
                aws::built(
                    "AnalysisParameter",
                    AnalysisParameter::builder()
                        .name(name)
                        .r#type(ParameterType::String)
                        .set_default_value(default.clone())
                        .build(),
                )
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn error_message_configuration(&self) -> Result<Option<ErrorMessageConfiguration>> {
        match self.error_messages {
            ErrorMessages::Basic => Ok(None),
            ErrorMessages::Detailed => aws::built(
                "ErrorMessageConfiguration",
                ErrorMessageConfiguration::builder()
                    .r#type(ErrorMessageType::Detailed)
                    .build(),
            )
            .map(Some),
        }
    }
}

impl Definition {
    /// How an existing template differs from this definition, one message per differing field
    /// (empty when it is this definition): format, source (entry point, additional artifacts,
    /// role), referenced tables, parameters (names, types, defaults), error messages, and the
    /// hashes recorded in `sourceMetadata`. Description and tags are not compared: the
    /// description can be edited after creation and tags are not part of the template.
    pub fn differences(&self, t: &AnalysisTemplate) -> Vec<String> {
        let mut out = Vec::new();
        if t.format().as_str() != self.format {
            out.push(format!(
                "format: the existing template has {}, ours is {}",
                t.format().as_str(),
                self.format
            ));
        }

        let location = |a: &AnalysisTemplateArtifact| match a.location() {
            Some(l) => format!("s3://{}/{}", l.bucket(), l.key()),
            None => "(no location)".to_string(),
        };
        let ours = |role: Role| {
            self.artifact(role)
                .map(|p| format!("s3://{}/{}", p.bucket, p.key))
        };
        match t.source() {
            Some(AnalysisSource::Artifacts(a)) => {
                let theirs = a.entry_point().map(location);
                if theirs != ours(Role::EntryPoint) {
                    out.push(format!(
                        "source entry point: the existing template has {}, ours is {}",
                        theirs.as_deref().unwrap_or("none"),
                        ours(Role::EntryPoint).as_deref().unwrap_or("none")
                    ));
                }
                let theirs: Vec<String> = a.additional_artifacts().iter().map(location).collect();
                let ours: Vec<String> = ours(Role::Additional).into_iter().collect();
                if theirs != ours {
                    let list = |v: &[String]| {
                        if v.is_empty() {
                            "none".to_string()
                        } else {
                            v.join(", ")
                        }
                    };
                    out.push(format!(
                        "source additional artifacts: the existing template has {}, ours {}",
                        list(&theirs),
                        list(&ours)
                    ));
                }
                if a.role_arn() != self.role_arn {
                    out.push(format!(
                        "role: the existing template reads its artifacts with {}, ours is {}",
                        a.role_arn(),
                        self.role_arn
                    ));
                }
            }
            Some(AnalysisSource::Text(_)) => {
                out.push("source: the existing template has SQL text, ours is artifacts in S3".into())
            }
            _ => out.push("source: the existing template has no artifacts, ours is artifacts in S3".into()),
        }

        // Which tables a template may read does not depend on their order.
        let mut theirs: Vec<&str> = t
            .schema()
            .map(|s| s.referenced_tables().iter().map(String::as_str).collect())
            .unwrap_or_default();
        let mut ours: Vec<&str> = self.referenced_tables.iter().map(String::as_str).collect();
        theirs.sort_unstable();
        ours.sort_unstable();
        if theirs != ours {
            out.push(format!(
                "referenced tables: the existing template has [{}], ours [{}]",
                theirs.join(", "),
                ours.join(", ")
            ));
        }

        let theirs = t.analysis_parameters();
        for (name, default) in &self.parameters {
            match theirs.iter().find(|p| p.name() == name) {
                None => out.push(format!(
                    "parameter {name}: the existing template does not have it"
                )),
                Some(p) => {
                    if *p.r#type() != ParameterType::String {
                        out.push(format!(
                            "parameter {name} type: the existing template has {}, ours is STRING",
                            p.r#type().as_str()
                        ));
                    }
                    if p.default_value() != default.as_deref() {
                        let show =
                            |d: Option<&str>| d.map(|d| format!("{d:?}")).unwrap_or_else(|| "none".into());
                        out.push(format!(
                            "parameter {name} default: the existing template has {}, ours {}",
                            show(p.default_value()),
                            show(default.as_deref())
                        ));
                    }
                }
            }
        }
        for p in theirs {
            if !self.parameters.iter().any(|(n, _)| n == p.name()) {
                out.push(format!(
                    "parameter {}: the existing template has it, ours does not",
                    p.name()
                ));
            }
        }

        let theirs = match t.error_message_configuration().map(|c| c.r#type()) {
            None => "basic".to_string(),
            Some(ErrorMessageType::Detailed) => "detailed".to_string(),
            Some(other) => other.as_str().to_ascii_lowercase(),
        };
        let ours = match self.error_messages {
            ErrorMessages::Basic => "basic",
            ErrorMessages::Detailed => "detailed",
        };
        if theirs != ours {
            out.push(format!(
                "error messages: the existing template has {theirs}, ours {ours}"
            ));
        }

        let local: Vec<(Role, &str, Sha256Digest)> = self
            .artifacts
            .iter()
            .map(|a| (a.role, a.file_name.as_str(), a.sha256))
            .collect();
        out.extend(
            RecordedHashes::from_metadata(t.source_metadata())
                .mismatches(&local)
                .into_iter()
                .map(|m| format!("sourceMetadata: {m}")),
        );
        out
    }
}

/// The hashes a template's `sourceMetadata` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedHashes {
    /// The entry point's hash as the service wrote it (hex or base64).
    pub entry_point: Option<String>,
    pub additional: Vec<String>,
}

impl RecordedHashes {
    pub fn from_metadata(meta: Option<&AnalysisSourceMetadata>) -> RecordedHashes {
        match meta {
            Some(AnalysisSourceMetadata::Artifacts(m)) => RecordedHashes {
                entry_point: m.entry_point_hash().and_then(|h| h.sha256()).map(str::to_string),
                additional: m
                    .additional_artifact_hashes()
                    .iter()
                    .map(|h| h.sha256().unwrap_or("").to_string())
                    .collect(),
            },
            _ => RecordedHashes {
                entry_point: None,
                additional: Vec::new(),
            },
        }
    }

    /// The recorded hash for a role (the additional artifact is the first of the list).
    pub fn for_role(&self, role: Role) -> Option<&str> {
        match role {
            Role::EntryPoint => self.entry_point.as_deref(),
            Role::Additional => self.additional.first().map(String::as_str),
        }
    }

    /// Differences from the local digests: one message per artifact that does not match
    /// (hex or base64 accepted; the 32 bytes are compared).
    pub fn mismatches(&self, local: &[(Role, &str, Sha256Digest)]) -> Vec<String> {
        let mut out = Vec::new();
        for (role, name, sha) in local {
            match self.for_role(*role) {
                None => out.push(format!(
                    "{role} {name}: the service recorded no hash (ours {sha})"
                )),
                Some(rec) => match Sha256Digest::parse(rec) {
                    Ok(d) if d == *sha => {}
                    Ok(d) => out.push(format!("{role} {name}: the service recorded {d}, ours is {sha}")),
                    Err(_) => out.push(format!(
                        "{role} {name}: the service recorded {rec:?}, not a SHA-256"
                    )),
                },
            }
        }
        let has_additional = local.iter().any(|(r, _, _)| *r == Role::Additional);
        if !has_additional && !self.additional.is_empty() {
            out.push(format!(
                "the service recorded {} additional artifact hash(es) but we have none",
                self.additional.len()
            ));
        }
        if self.additional.len() > 1 {
            out.push(format!(
                "the service recorded {} additional artifact hashes; a template holds at most one",
                self.additional.len()
            ));
        }
        out
    }
}

/// `format` as the service names it.
pub fn format_name(format: Option<&AnalysisFormat>) -> String {
    format
        .map(|f| f.as_str().to_string())
        .unwrap_or_else(|| "(none)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(role: Role, data: &[u8]) -> Placed {
        Placed {
            role,
            file_name: "f".into(),
            size: data.len() as u64,
            sha256: Sha256Digest::of(data),
            bucket: "b".into(),
            key: "k".into(),
        }
    }

    fn def(name: &str, data: &[u8]) -> Definition {
        Definition {
            configured_name: name.into(),
            description: None,
            format: "PYSPARK_1_0",
            membership_id: "m".into(),
            role_arn: "arn:aws:iam::111111111111:role/r".into(),
            referenced_tables: vec!["orders".into()],
            parameters: vec![],
            error_messages: ErrorMessages::Basic,
            tags: BTreeMap::new(),
            artifacts: vec![placed(Role::EntryPoint, data)],
        }
    }

    #[test]
    fn names_change_with_the_definition_and_stay_valid() {
        let a = def("audience-overlap", b"one").registered_name();
        let b = def("audience-overlap", b"two").registered_name();
        assert_ne!(a, b);
        assert!(a.starts_with("audience-overlap-") && a.len() == "audience-overlap-".len() + 8);
        assert_eq!(a, def("audience-overlap", b"one").registered_name(), "stable");
        for name in ["a", &"x".repeat(128), "ab cd"] {
            let n = def(name, b"x").registered_name();
            validate::template_name(&n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn mismatches_accept_hex_and_base64() {
        let sha = Sha256Digest::of(b"abc");
        let rec = RecordedHashes {
            entry_point: Some(sha.to_base64()),
            additional: vec![],
        };
        assert!(rec.mismatches(&[(Role::EntryPoint, "e.py", sha)]).is_empty());
        let rec = RecordedHashes {
            entry_point: Some(sha.to_hex().to_uppercase()),
            additional: vec![Sha256Digest::of(b"z").to_hex()],
        };
        let m = rec.mismatches(&[
            (Role::EntryPoint, "e.py", sha),
            (Role::Additional, "b.zip", Sha256Digest::of(b"y")),
        ]);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("b.zip"));
        let m = rec.mismatches(&[(Role::EntryPoint, "e.py", sha)]);
        assert_eq!(m.len(), 1, "an extra recorded hash is a difference: {m:?}");
    }

    /// The template the service would hold for `d`.
    fn registered(d: &Definition) -> AnalysisTemplate {
        let hashes = |p: &Placed| {
            aws_sdk_cleanrooms::types::Hash::builder()
                .sha256(p.sha256.to_hex())
                .build()
        };
        let mut meta = aws_sdk_cleanrooms::types::AnalysisTemplateArtifactMetadata::builder()
            .entry_point_hash(hashes(d.artifact(Role::EntryPoint).unwrap()));
        if let Some(a) = d.artifact(Role::Additional) {
            meta = meta.additional_artifact_hashes(hashes(a));
        }
        let now = aws_smithy_types::DateTime::from_secs(0);
        AnalysisTemplate::builder()
            .id("t")
            .arn("arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t")
            .collaboration_id("c")
            .collaboration_arn("arn:aws:cleanrooms:us-east-1:111111111111:collaboration/c")
            .membership_id("m")
            .membership_arn("arn:aws:cleanrooms:us-east-1:111111111111:membership/m")
            .name(d.registered_name())
            .create_time(now)
            .update_time(now)
            .schema(d.schema())
            .format(AnalysisFormat::Pyspark10)
            .source(d.source().unwrap())
            .source_metadata(AnalysisSourceMetadata::Artifacts(meta.build()))
            .set_analysis_parameters(d.parameters().unwrap())
            .set_error_message_configuration(d.error_message_configuration().unwrap())
            .build()
            .unwrap()
    }

    fn full_def() -> Definition {
        let mut d = def("audience-overlap", b"one");
        d.referenced_tables = vec!["orders".into(), "customers".into()];
        d.parameters = vec![
            ("min_customers".into(), Some("1".into())),
            ("segment".into(), None),
        ];
        d.artifacts.push(placed(Role::Additional, b"venv"));
        d.artifacts[1].key = "k2".into();
        d
    }

    #[test]
    fn the_same_definition_has_no_differences() {
        let d = full_def();
        assert_eq!(d.differences(&registered(&d)), Vec::<String>::new());
        // The order of referenced tables does not matter.
        let mut swapped = d.clone();
        swapped.referenced_tables.reverse();
        assert!(d.differences(&registered(&swapped)).is_empty());
        let mut detailed = d.clone();
        detailed.error_messages = ErrorMessages::Detailed;
        assert!(detailed.differences(&registered(&detailed)).is_empty());
    }

    /// Each of `starts` begins one of the differences `d`.
    fn assert_named(d: &[String], starts: &[&str]) {
        for start in starts {
            assert!(d.iter().any(|m| m.starts_with(start)), "{start}: {d:#?}");
        }
    }

    #[test]
    fn every_differing_field_is_named() {
        let ours = full_def();
        let mut other = ours.clone();
        other.parameters[0].1 = Some("5".into());
        other.parameters.push(("extra".into(), None));
        other.referenced_tables.pop();
        other.role_arn = "arn:aws:iam::111111111111:role/other".into();
        other.error_messages = ErrorMessages::Detailed;
        other.artifacts[0].key = "elsewhere.py".into();
        other.artifacts[1] = placed(Role::Additional, b"other venv");
        let d = ours.differences(&registered(&other));
        assert_named(
            &d,
            &[
                "parameter min_customers default: the existing template has \"5\", ours \"1\"",
                "parameter extra: the existing template has it",
                "referenced tables:",
                "role:",
                "error messages: the existing template has detailed, ours basic",
                "source entry point: the existing template has s3://b/elsewhere.py",
                "sourceMetadata: additional",
                "source additional artifacts: the existing template has s3://b/k,",
            ],
        );
        assert!(!d.iter().any(|m| m.starts_with("format")), "{d:#?}");
        assert_eq!(d.len(), 8, "{d:#?}");

        let mut fewer = ours.clone();
        fewer.artifacts.pop();
        fewer.parameters.remove(1);
        let d = ours.differences(&registered(&fewer));
        assert_named(
            &d,
            &[
                "source additional artifacts: the existing template has none, ours s3://b/k2",
                "parameter segment: the existing template does not have it",
                "sourceMetadata:",
            ],
        );
    }
}
