//! The template definition crpack registers, its digest (which names it), and the hashes the
//! service records in `sourceMetadata`.

use std::collections::BTreeMap;

use aws_sdk_cleanrooms::types::{
    AnalysisFormat, AnalysisParameter, AnalysisSchema, AnalysisSource, AnalysisSourceMetadata,
    AnalysisTemplateArtifact, AnalysisTemplateArtifacts, ErrorMessageConfiguration, ErrorMessageType,
    ParameterType, S3Location,
};
use serde::Serialize;

use crate::artifact::Role;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
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
            let loc = S3Location::builder()
                .bucket(&p.bucket)
                .key(&p.key)
                .build()
                .map_err(|e| Error::Other(e.to_string()))?;
            Ok(AnalysisTemplateArtifact::builder().location(loc).build())
        };
        let entry = self
            .artifact(Role::EntryPoint)
            .ok_or_else(|| Error::Other("no entry point artifact".into()))?;
        let mut b = AnalysisTemplateArtifacts::builder()
            .entry_point(art(entry)?)
            .role_arn(&self.role_arn);
        if let Some(add) = self.artifact(Role::Additional) {
            b = b.additional_artifacts(art(add)?);
        }
        Ok(AnalysisSource::Artifacts(
            b.build().map_err(|e| Error::Other(e.to_string()))?,
        ))
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
                AnalysisParameter::builder()
                    .name(name)
                    .r#type(ParameterType::String)
                    .set_default_value(default.clone())
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn error_message_configuration(&self) -> Result<Option<ErrorMessageConfiguration>> {
        match self.error_messages {
            ErrorMessages::Basic => Ok(None),
            ErrorMessages::Detailed => ErrorMessageConfiguration::builder()
                .r#type(ErrorMessageType::Detailed)
                .build()
                .map(Some)
                .map_err(|e| Error::Other(e.to_string())),
        }
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
}
