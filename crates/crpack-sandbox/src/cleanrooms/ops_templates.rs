//! Analysis templates: created in the caller's own membership, read back through the membership
//! (`GetAnalysisTemplate`) or by any active member of the collaboration
//! (`GetCollaborationAnalysisTemplate`, `BatchGet…`, `ListCollaboration…`).
//!
//! `CreateAnalysisTemplate` checks, in order: the model (patterns, lengths, union), the
//! membership (exists, is the caller's, is active), format against source (`SQL` needs
//! `source.text`, `PYSPARK_1_0` needs `source.artifacts`, a `SPARK` collaboration and a creator
//! who can receive results, as the user guide requires), unique
//! parameter names, a unique name within the membership (`ConflictException`), and finally
//! reads every artifact from S3 to pin its version and SHA-256.
//!
//! Referenced tables are checked against the model only (`TableAlias`): like the service, the
//! sandbox accepts a template that names a table no member has associated with the
//! collaboration yet (the console offers "tables to be associated later"; the model's
//! `AnalysisTemplateValidationStatusDetail` only *recommends* associating tables first). Such a
//! table cannot be read until it is associated: a protected job on the template fails when it
//! starts (see the [`executor`](super::executor)).

use serde_json::{Value, json};

use super::artifacts::{self, ArtifactRef};
use super::error::{self, ApiError};
use super::identity_account as account;
use super::model::model;
use super::ops_collab::{
    get_in_membership, list_membership_records, own_membership, read_in_collaboration,
    readable_collaboration, write_in_membership,
};
use super::state::{Doc, State, TemplateRec, in_membership, s};
use super::{Inner, arn, copy_members, input_tags, list_page, new_id, now};
use crate::identity::Identity;

fn name_taken(state: &State, membership_id: &str, name: &str) -> Option<String> {
    state
        .templates
        .iter()
        .find(|t| s(&t.doc, "membershipId") == membership_id && s(&t.doc, "name") == name)
        .map(|t| s(&t.doc, "id").to_string())
}

fn conflict(membership_id: &str, name: &str, existing: &str) -> ApiError {
    ApiError::conflict(
        "ALREADY_EXISTS",
        None,
        existing,
        format!("membership {membership_id} already has an analysis template named {name} ({existing})"),
    )
}

/// What creation needs from the state, gathered before S3 is read (without holding the lock).
struct Target {
    collaboration_id: String,
    collaboration_arn: Value,
    membership_arn: Value,
}

fn artifact_refs(source: &Value) -> Vec<ArtifactRef> {
    let artifacts = &source["artifacts"];
    let location = |a: &Value, field: String, entry_point: bool| ArtifactRef {
        entry_point,
        bucket: a["location"]["bucket"].as_str().unwrap_or_default().to_string(),
        key: a["location"]["key"].as_str().unwrap_or_default().to_string(),
        field,
    };
    let mut refs = vec![location(
        &artifacts["entryPoint"],
        "source.artifacts.entryPoint".to_string(),
        true,
    )];
    if let Some(extra) = artifacts["additionalArtifacts"].as_array() {
        for (i, a) in extra.iter().enumerate() {
            refs.push(location(
                a,
                format!("source.artifacts.additionalArtifacts.{}.member", i + 1),
                false,
            ));
        }
    }
    refs
}

fn precheck(state: &State, caller: &Identity, input: &Doc) -> Result<Target, ApiError> {
    let membership_id = s(input, "membershipIdentifier");
    let membership = own_membership(state, caller, membership_id)?;
    if s(&membership.doc, "status") != "ACTIVE" {
        return Err(ApiError::conflict(
            "INVALID_STATE",
            Some(error::MEMBERSHIP),
            membership_id,
            format!("membership {membership_id} is {}", s(&membership.doc, "status")),
        ));
    }
    let collaboration_id = s(&membership.doc, "collaborationId");
    let collab = state
        .collaboration(collaboration_id)
        .ok_or_else(|| ApiError::not_found(error::COLLABORATION, collaboration_id))?;
    let format = s(input, "format");
    let source = &input["source"];
    match format {
        "SQL" if source.get("text").is_none() => {
            return Err(ApiError::field(
                "source.text",
                "a SQL analysis template needs source.text",
            ));
        }
        "PYSPARK_1_0" if source.get("artifacts").is_none() => {
            return Err(ApiError::field(
                "source.artifacts",
                "a PYSPARK_1_0 analysis template needs source.artifacts",
            ));
        }
        _ => {}
    }
    if format == "PYSPARK_1_0" {
        let engine = s(&collab.doc, "analyticsEngine");
        if engine != "SPARK" {
            return Err(ApiError::invalid(format!(
                "PYSPARK_1_0 analysis templates need a collaboration whose analyticsEngine is SPARK; collaboration {collaboration_id} uses {}",
                if engine.is_empty() {
                    "CLEAN_ROOMS_SQL"
                } else {
                    engine
                }
            )));
        }
        let receives = membership
            .doc
            .get("memberAbilities")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "CAN_RECEIVE_RESULTS"));
        if !receives {
            return Err(ApiError::invalid(format!(
                "the creator of a PYSPARK_1_0 analysis template must be the member who receives results: membership {membership_id} lacks CAN_RECEIVE_RESULTS"
            )));
        }
    }
    if let Some(params) = input.get("analysisParameters").and_then(Value::as_array) {
        let names: Vec<&str> = params
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default())
            .collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(ApiError::field(
                    &format!("analysisParameters.{}.member.name", i + 1),
                    format!("analysis parameter {n} is defined more than once"),
                ));
            }
        }
    }
    let name = s(input, "name");
    if let Some(existing) = name_taken(state, membership_id, name) {
        return Err(conflict(membership_id, name, &existing));
    }
    Ok(Target {
        collaboration_id: collaboration_id.to_string(),
        collaboration_arn: collab.doc["arn"].clone(),
        membership_arn: membership.doc["arn"].clone(),
    })
}

pub(crate) async fn create_template(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
) -> Result<Value, ApiError> {
    let target = inner.read(|state| precheck(state, caller, input))?;
    let pinned = if s(input, "format") == "PYSPARK_1_0" {
        let source = &input["source"];
        let role_arn = source["artifacts"]["roleArn"].as_str().unwrap_or_default();
        artifacts::pin(&inner.s3_endpoint, role_arn, &artifact_refs(source)).await?
    } else {
        Vec::new()
    };
    let me = account(caller);
    let membership_id = s(input, "membershipIdentifier");
    let name = s(input, "name");
    let time = now();
    let id = new_id();
    let mut doc = Doc::new();
    doc.insert("id".into(), json!(id));
    doc.insert(
        "arn".into(),
        json!(arn(
            me,
            &format!("membership/{membership_id}/analysistemplate/{id}")
        )),
    );
    doc.insert("collaborationId".into(), json!(target.collaboration_id));
    doc.insert("collaborationArn".into(), target.collaboration_arn);
    doc.insert("membershipId".into(), json!(membership_id));
    doc.insert("membershipArn".into(), target.membership_arn);
    copy_members(input, &mut doc, &["description", "name"]);
    doc.insert("createTime".into(), time.clone());
    doc.insert("updateTime".into(), time);
    doc.insert(
        "schema".into(),
        input
            .get("schema")
            .cloned()
            .unwrap_or_else(|| json!({ "referencedTables": [] })),
    );
    copy_members(input, &mut doc, &["format", "source"]);
    if let Some((entry, extra)) = pinned.split_first() {
        let mut metadata = json!({ "entryPointHash": { "sha256": entry.sha256 } });
        if !extra.is_empty() {
            metadata["additionalArtifactHashes"] =
                extra.iter().map(|a| json!({ "sha256": a.sha256 })).collect();
        }
        doc.insert("sourceMetadata".into(), json!({ "artifacts": metadata }));
    }
    copy_members(
        input,
        &mut doc,
        &[
            "analysisParameters",
            "errorMessageConfiguration",
            "syntheticDataParameters",
        ],
    );
    inner.write(|state| {
        // S3 was read without the lock: someone may have taken the name meanwhile.
        if let Some(existing) = name_taken(state, membership_id, name) {
            return Err(conflict(membership_id, name, &existing));
        }
        state.templates.push(TemplateRec {
            account_id: me.to_string(),
            doc: doc.clone(),
            pinned,
            tags: input_tags(input),
        });
        Ok(json!({ "analysisTemplate": doc }))
    })
}

fn template_in<'a>(state: &'a State, membership_id: &str, id: &str) -> Result<&'a TemplateRec, ApiError> {
    in_membership(&state.templates, membership_id, id)
        .ok_or_else(|| ApiError::not_found(error::ANALYSIS_TEMPLATE, id))
}

pub(crate) fn get_template(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    get_in_membership(
        inner,
        caller,
        input,
        ("analysisTemplate", "analysisTemplateIdentifier"),
        template_in,
    )
}

pub(crate) fn list_templates(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let listing = (
        "ListAnalysisTemplates",
        "analysisTemplateSummaries",
        "AnalysisTemplateSummary",
    );
    list_membership_records(inner, caller, input, listing, |state| &state.templates)
}

pub(crate) fn update_template(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "analysisTemplateIdentifier");
    write_in_membership(inner, caller, input, |state, membership_id| {
        template_in(state, membership_id, id)?;
        let Some(t) = state.templates.iter_mut().find(|t| s(&t.doc, "id") == id) else {
            return Err(ApiError::not_found(error::ANALYSIS_TEMPLATE, id));
        };
        copy_members(input, &mut t.doc, &["description"]);
        t.doc.insert("updateTime".into(), now());
        Ok(json!({ "analysisTemplate": t.doc }))
    })
}

pub(crate) fn delete_template(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "analysisTemplateIdentifier");
    write_in_membership(inner, caller, input, |state, membership_id| {
        template_in(state, membership_id, id)?;
        state.templates.retain(|t| s(&t.doc, "id") != id);
        Ok(json!({}))
    })
}

/// The template `arn` if it is in collaboration `collab_id`.
fn collaboration_template<'a>(state: &'a State, collab_id: &str, arn: &str) -> Option<&'a TemplateRec> {
    state
        .template_by_arn(arn)
        .filter(|t| s(&t.doc, "collaborationId") == collab_id)
}

/// The template as collaboration members see it (`CollaborationAnalysisTemplate`).
/// `shape`: `CollaborationAnalysisTemplate` or its summary.
fn collaboration_view(t: &TemplateRec, shape: &str) -> Value {
    let mut doc = model().project(shape, &t.doc);
    doc.insert("creatorAccountId".into(), json!(t.account_id));
    Value::Object(doc)
}

pub(crate) fn get_collaboration_template(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
) -> Result<Value, ApiError> {
    let template_arn = s(input, "analysisTemplateArn");
    read_in_collaboration(inner, caller, input, |state, collab_id| {
        let t = collaboration_template(state, collab_id, template_arn)
            .ok_or_else(|| ApiError::not_found(error::ANALYSIS_TEMPLATE, template_arn))?;
        Ok(json!({
            "collaborationAnalysisTemplate": collaboration_view(t, "CollaborationAnalysisTemplate")
        }))
    })
}

pub(crate) fn batch_get_collaboration_templates(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
) -> Result<Value, ApiError> {
    read_in_collaboration(inner, caller, input, |state, collab_id| {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for arn in input["analysisTemplateArns"].as_array().into_iter().flatten() {
            let arn = arn.as_str().unwrap_or_default();
            match collaboration_template(state, collab_id, arn) {
                Some(t) => found.push(collaboration_view(t, "CollaborationAnalysisTemplate")),
                None => errors.push(json!({
                    "arn": arn,
                    "code": "ResourceNotFoundException",
                    "message": format!("analysis template {arn} is not in collaboration {collab_id}")
                })),
            }
        }
        Ok(json!({ "collaborationAnalysisTemplates": found, "errors": errors }))
    })
}

pub(crate) fn list_collaboration_templates(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
) -> Result<Value, ApiError> {
    let collab_id = s(input, "collaborationIdentifier");
    list_page(
        inner,
        input,
        "ListCollaborationAnalysisTemplates",
        "collaborationAnalysisTemplateSummaries",
        |state| {
            readable_collaboration(state, caller, collab_id)?;
            Ok(state
                .templates
                .iter()
                .filter(|t| s(&t.doc, "collaborationId") == collab_id)
                .map(|t| collaboration_view(t, "CollaborationAnalysisTemplateSummary"))
                .collect())
        },
    )
}
