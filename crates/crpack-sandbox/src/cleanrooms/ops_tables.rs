//! Configured tables, their analysis rules, configured table associations, and the schemas a
//! collaboration derives from the associations.
//!
//! Only the owning account may read or change a configured table or its rules (others get
//! `AccessDeniedException`). Analysis rule policies are stored and returned exactly as sent,
//! every field preserved; an update replaces the whole policy.

use serde_json::{Value, json};

use super::error::{self, ApiError};
use super::identity_account as account;
use super::ops_collab::{
    get_in_membership, list_membership_records, own_membership, readable_collaboration, write_in_membership,
};
use super::state::{AssociationRec, CollaborationRec, Doc, State, TableRec, in_membership, s};
use super::{
    Inner, arn, copy_members, found_allowed, get_doc, input_tags, list_page, new_id, now, opt_str, projected,
};
use crate::identity::Identity;

/// The policy member of `ConfiguredTableAnalysisRulePolicyV1` for each rule type.
fn policy_member(rule_type: &str) -> &'static str {
    match rule_type {
        "AGGREGATION" => "aggregation",
        "LIST" => "list",
        _ => "custom",
    }
}

/// The table `id`: it must exist and belong to the caller.
fn own_table<'a>(state: &'a State, caller: &Identity, id: &str) -> Result<&'a TableRec, ApiError> {
    let me = account(caller);
    let denied = || format!("configured table {id} does not belong to account {me}");
    found_allowed(
        state.table(id),
        (error::CONFIGURED_TABLE, id),
        |t| t.account_id == me,
        denied,
    )
}

fn own_table_mut<'a>(
    state: &'a mut State,
    caller: &Identity,
    id: &str,
) -> Result<&'a mut TableRec, ApiError> {
    own_table(state, caller, id)?;
    Ok(state
        .configured_tables
        .iter_mut()
        .find(|t| s(&t.doc, "id") == id)
        .expect("checked above"))
}

/// `analysisMethod` / `selectedAnalysisMethods` must agree, and columns must be unique.
fn check_table_fields(doc: &Doc) -> Result<(), ApiError> {
    let method = s(doc, "analysisMethod");
    let selected = doc
        .get("selectedAnalysisMethods")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    if method == "MULTIPLE" && selected == 0 {
        return Err(ApiError::field(
            "selectedAnalysisMethods",
            "analysisMethod MULTIPLE needs selectedAnalysisMethods",
        ));
    }
    if method != "MULTIPLE" && selected > 0 {
        return Err(ApiError::field(
            "selectedAnalysisMethods",
            format!("selectedAnalysisMethods is only allowed with analysisMethod MULTIPLE, not {method}"),
        ));
    }
    let columns: Vec<&str> = doc
        .get("allowedColumns")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(ApiError::field(
                "allowedColumns",
                format!("column {c} is listed more than once"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn create_table(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let me = account(caller);
    let time = now();
    let id = new_id();
    let mut doc = Doc::new();
    doc.insert("id".into(), json!(id));
    doc.insert("arn".into(), json!(arn(me, &format!("configuredtable/{id}"))));
    copy_members(input, &mut doc, &["name", "description", "tableReference"]);
    doc.insert("createTime".into(), time.clone());
    doc.insert("updateTime".into(), time);
    doc.insert("analysisRuleTypes".into(), json!([]));
    copy_members(
        input,
        &mut doc,
        &["analysisMethod", "allowedColumns", "selectedAnalysisMethods"],
    );
    check_table_fields(&doc)?;
    inner.write(|state| {
        state.configured_tables.push(TableRec {
            account_id: me.to_string(),
            doc: doc.clone(),
            rules: Vec::new(),
            tags: input_tags(input),
        });
        Ok(json!({ "configuredTable": doc }))
    })
}

pub(crate) fn get_table(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "configuredTableIdentifier");
    get_doc(inner, "configuredTable", |state| {
        Ok(&own_table(state, caller, id)?.doc)
    })
}

pub(crate) fn list_tables(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    list_page(
        inner,
        input,
        "ListConfiguredTables",
        "configuredTableSummaries",
        |state| {
            Ok(state
                .configured_tables
                .iter()
                .filter(|t| t.account_id == account(caller))
                .map(|t| projected("ConfiguredTableSummary", &t.doc))
                .collect())
        },
    )
}

pub(crate) fn update_table(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "configuredTableIdentifier");
    inner.write(|state| {
        let t = own_table_mut(state, caller, id)?;
        let mut doc = t.doc.clone();
        copy_members(
            input,
            &mut doc,
            &[
                "name",
                "description",
                "tableReference",
                "allowedColumns",
                "analysisMethod",
                "selectedAnalysisMethods",
            ],
        );
        if input.contains_key("analysisMethod")
            && s(input, "analysisMethod") != "MULTIPLE"
            && !input.contains_key("selectedAnalysisMethods")
        {
            doc.remove("selectedAnalysisMethods");
        }
        check_table_fields(&doc)?;
        doc.insert("updateTime".into(), now());
        t.doc = doc.clone();
        Ok(json!({ "configuredTable": doc }))
    })
}

pub(crate) fn delete_table(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "configuredTableIdentifier");
    inner.write(|state| {
        own_table(state, caller, id)?;
        if let Some(a) = state.associations.iter().find(|a| s(&a.doc, "configuredTableId") == id) {
            return Err(ApiError::conflict(
                "SUBRESOURCES_EXIST",
                Some(error::CONFIGURED_TABLE),
                id,
                format!(
                    "configured table {id} is associated with membership {} (association {}): delete the association first",
                    s(&a.doc, "membershipId"),
                    s(&a.doc, "id")
                ),
            ));
        }
        state.configured_tables.retain(|t| s(&t.doc, "id") != id);
        Ok(json!({}))
    })
}

/// Checks that `policy` (already valid against the model) fits `rule_type`.
fn check_policy(rule_type: &str, policy: &Value) -> Result<(), ApiError> {
    let v1 = policy.get("v1").and_then(Value::as_object).ok_or_else(|| {
        ApiError::field(
            "analysisRulePolicy.v1",
            "Value null at 'analysisRulePolicy.v1' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let want = policy_member(rule_type);
    if !v1.contains_key(want) {
        let got = v1.keys().next().map(String::as_str).unwrap_or("nothing");
        return Err(ApiError::field(
            "analysisRulePolicy.v1",
            format!("analysisRuleType {rule_type} needs an analysisRulePolicy.v1.{want} policy, not {got}"),
        ));
    }
    if rule_type == "CUSTOM" {
        let custom = &v1["custom"];
        let wildcards: Vec<&str> = custom["allowedAnalyses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|x| *x == "ANY_QUERY" || *x == "ANY_JOB")
                    .collect()
            })
            .unwrap_or_default();
        let providers = custom
            .get("allowedAnalysisProviders")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        if !wildcards.is_empty() && providers == 0 {
            return Err(ApiError::field(
                "analysisRulePolicy.v1.custom.allowedAnalysisProviders",
                format!(
                    "allowedAnalysisProviders is required when allowedAnalyses contains {}",
                    wildcards.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

fn rule_not_found(table_id: &str, rule_type: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("configured table {table_id} has no {rule_type} analysis rule"),
        resource_id: table_id.to_string(),
        resource_type: error::CONFIGURED_TABLE,
    }
}

pub(crate) fn create_rule(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let (id, rule_type) = rule_key(input);
    let policy = checked_policy(input, rule_type)?;
    inner.write(|state| {
        let t = own_table_mut(state, caller, id)?;
        if t.rules.iter().any(|r| s(r, "type") == rule_type) {
            return Err(ApiError::conflict(
                "ALREADY_EXISTS",
                Some(error::CONFIGURED_TABLE),
                id,
                format!("configured table {id} already has a {rule_type} analysis rule"),
            ));
        }
        let time = now();
        let mut rule = Doc::new();
        rule.insert("configuredTableId".into(), json!(id));
        rule.insert("configuredTableArn".into(), t.doc["arn"].clone());
        rule.insert("policy".into(), policy);
        rule.insert("type".into(), json!(rule_type));
        rule.insert("createTime".into(), time.clone());
        rule.insert("updateTime".into(), time.clone());
        t.rules.push(rule.clone());
        rules_changed(t, time);
        Ok(json!({ "analysisRule": rule }))
    })
}

/// Records that the table's rules changed at `time`: its `analysisRuleTypes` and `updateTime`.
fn rules_changed(t: &mut TableRec, time: Value) {
    let types: Vec<Value> = t.rules.iter().map(|r| r["type"].clone()).collect();
    t.doc.insert("analysisRuleTypes".into(), Value::Array(types));
    t.doc.insert("updateTime".into(), time);
}

/// The request's `analysisRulePolicy`, checked to fit `rule_type`.
fn checked_policy(input: &Doc, rule_type: &str) -> Result<Value, ApiError> {
    let policy = input["analysisRulePolicy"].clone();
    check_policy(rule_type, &policy)?;
    Ok(policy)
}

/// Where table `id`'s rule of type `rule_type` is in its rules.
fn rule_index(t: &TableRec, id: &str, rule_type: &str) -> Result<usize, ApiError> {
    t.rules
        .iter()
        .position(|r| s(r, "type") == rule_type)
        .ok_or_else(|| rule_not_found(id, rule_type))
}

/// The request's `(configuredTableIdentifier, analysisRuleType)`.
fn rule_key(input: &Doc) -> (&str, &str) {
    (
        s(input, "configuredTableIdentifier"),
        s(input, "analysisRuleType"),
    )
}

pub(crate) fn get_rule(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let (id, rule_type) = rule_key(input);
    inner.read(|state| {
        let t = own_table(state, caller, id)?;
        Ok(json!({ "analysisRule": t.rules[rule_index(t, id, rule_type)?] }))
    })
}

pub(crate) fn update_rule(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let (id, rule_type) = rule_key(input);
    let policy = checked_policy(input, rule_type)?;
    inner.write(|state| {
        let t = own_table_mut(state, caller, id)?;
        let i = rule_index(t, id, rule_type)?;
        let rule = &mut t.rules[i];
        rule.insert("policy".into(), policy);
        rule.insert("updateTime".into(), now());
        Ok(json!({ "analysisRule": rule }))
    })
}

pub(crate) fn delete_rule(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let (id, rule_type) = rule_key(input);
    inner.write(|state| {
        let t = own_table_mut(state, caller, id)?;
        rule_index(t, id, rule_type)?;
        t.rules.retain(|r| s(r, "type") != rule_type);
        rules_changed(t, now());
        Ok(json!({}))
    })
}

pub(crate) fn create_association(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let me = account(caller);
    let membership_id = s(input, "membershipIdentifier");
    let table_id = s(input, "configuredTableIdentifier");
    let name = s(input, "name");
    inner.write(|state| {
        let membership = own_membership(state, caller, membership_id)?;
        let collaboration_id = s(&membership.doc, "collaborationId").to_string();
        let membership_arn = membership.doc["arn"].clone();
        let table = own_table(state, caller, table_id)?;
        let table_arn = table.doc["arn"].clone();
        for a in state.associations.iter().filter(|a| a.collaboration_id == collaboration_id) {
            if s(&a.doc, "name") == name {
                return Err(ApiError::conflict(
                    "ALREADY_EXISTS",
                    Some(error::CONFIGURED_TABLE_ASSOCIATION),
                    s(&a.doc, "id"),
                    format!("collaboration {collaboration_id} already has a table named {name}"),
                ));
            }
            if s(&a.doc, "configuredTableId") == table_id {
                return Err(ApiError::conflict(
                    "ALREADY_EXISTS",
                    Some(error::CONFIGURED_TABLE_ASSOCIATION),
                    s(&a.doc, "id"),
                    format!(
                        "configured table {table_id} is already associated with collaboration {collaboration_id} as {}",
                        s(&a.doc, "name")
                    ),
                ));
            }
        }
        let time = now();
        let id = new_id();
        let mut doc = Doc::new();
        doc.insert(
            "arn".into(),
            json!(arn(me, &format!("configuredtableassociation/{membership_id}/{id}"))),
        );
        doc.insert("id".into(), json!(id));
        doc.insert("configuredTableId".into(), json!(table_id));
        doc.insert("configuredTableArn".into(), table_arn);
        doc.insert("membershipId".into(), json!(membership_id));
        doc.insert("membershipArn".into(), membership_arn);
        copy_members(input, &mut doc, &["roleArn", "name", "description"]);
        doc.insert("analysisRuleTypes".into(), json!([]));
        doc.insert("createTime".into(), time.clone());
        doc.insert("updateTime".into(), time);
        state.associations.push(AssociationRec {
            account_id: me.to_string(),
            collaboration_id,
            doc: doc.clone(),
            tags: input_tags(input),
        });
        Ok(json!({ "configuredTableAssociation": doc }))
    })
}

fn association_in<'a>(
    state: &'a State,
    membership_id: &str,
    id: &str,
) -> Result<&'a AssociationRec, ApiError> {
    in_membership(&state.associations, membership_id, id)
        .ok_or_else(|| ApiError::not_found(error::CONFIGURED_TABLE_ASSOCIATION, id))
}

pub(crate) fn get_association(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    get_in_membership(
        inner,
        caller,
        input,
        (
            "configuredTableAssociation",
            "configuredTableAssociationIdentifier",
        ),
        association_in,
    )
}

pub(crate) fn list_associations(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let listing = (
        "ListConfiguredTableAssociations",
        "configuredTableAssociationSummaries",
        "ConfiguredTableAssociationSummary",
    );
    list_membership_records(inner, caller, input, listing, |state| &state.associations)
}

pub(crate) fn delete_association(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "configuredTableAssociationIdentifier");
    write_in_membership(inner, caller, input, |state, membership_id| {
        association_in(state, membership_id, id)?;
        state.associations.retain(|a| s(&a.doc, "id") != id);
        Ok(json!({}))
    })
}

/// The schema status of a table: `NOT_READY` with `ANALYSIS_RULE_MISSING` without rules, and
/// with `ANALYSIS_TEMPLATES_NOT_CONFIGURED` for a custom rule that allows no analysis.
fn status_details(table: &TableRec) -> Vec<Value> {
    if table.rules.is_empty() {
        return vec![json!({
            "status": "NOT_READY",
            "reasons": [{
                "code": "ANALYSIS_RULE_MISSING",
                "message": "The configured table has no analysis rule."
            }],
            "analysisType": "DIRECT_ANALYSIS"
        })];
    }
    table
        .rules
        .iter()
        .map(|rule| {
            let rule_type = s(rule, "type");
            let allowed = rule["policy"]["v1"]["custom"]["allowedAnalyses"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            if rule_type == "CUSTOM" && allowed == 0 {
                json!({
                    "status": "NOT_READY",
                    "reasons": [{
                        "code": "ANALYSIS_TEMPLATES_NOT_CONFIGURED",
                        "message": "The custom analysis rule allows no analysis template or provider."
                    }],
                    "analysisRuleType": rule_type,
                    "analysisType": "DIRECT_ANALYSIS"
                })
            } else {
                json!({ "status": "READY", "analysisRuleType": rule_type, "analysisType": "DIRECT_ANALYSIS" })
            }
        })
        .collect()
}

/// The `Schema` a collaboration shows for an association.
fn schema_doc(state: &State, collab: &CollaborationRec, a: &AssociationRec) -> Doc {
    let table = state.table(s(&a.doc, "configuredTableId"));
    let mut doc = Doc::new();
    let columns: Vec<Value> = table
        .and_then(|t| t.doc.get("allowedColumns"))
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| json!({ "name": c, "type": "string" }))
                .collect()
        })
        .unwrap_or_default();
    doc.insert("columns".into(), Value::Array(columns));
    doc.insert("partitionKeys".into(), json!([]));
    doc.insert(
        "analysisRuleTypes".into(),
        table
            .map(|t| t.doc["analysisRuleTypes"].clone())
            .unwrap_or(json!([])),
    );
    if let Some(t) = table {
        copy_members(&t.doc, &mut doc, &["analysisMethod", "selectedAnalysisMethods"]);
    }
    doc.insert("creatorAccountId".into(), json!(a.account_id));
    doc.insert("name".into(), a.doc["name"].clone());
    doc.insert("collaborationId".into(), collab.doc["id"].clone());
    doc.insert("collaborationArn".into(), collab.doc["arn"].clone());
    doc.insert(
        "description".into(),
        a.doc.get("description").cloned().unwrap_or(json!("")),
    );
    doc.insert("createTime".into(), a.doc["createTime"].clone());
    doc.insert("updateTime".into(), a.doc["updateTime"].clone());
    doc.insert("type".into(), json!("TABLE"));
    doc.insert(
        "schemaStatusDetails".into(),
        Value::Array(table.map(status_details).unwrap_or_default()),
    );
    doc.insert(
        "resourceArn".into(),
        json!(arn(
            &a.account_id,
            &format!(
                "membership/{}/configuredtableassociation/{}",
                s(&a.doc, "membershipId"),
                s(&a.doc, "id")
            )
        )),
    );
    doc.insert(
        "schemaTypeProperties".into(),
        json!({ "configuredTableAssociation": { "configuredTableAssociationId": a.doc["id"] } }),
    );
    doc
}

pub(crate) fn get_schema(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let collab_id = s(input, "collaborationIdentifier");
    let name = s(input, "name");
    inner.read(|state| {
        let collab = readable_collaboration(state, caller, collab_id)?;
        let a = state
            .associations
            .iter()
            .find(|a| a.collaboration_id == collab_id && s(&a.doc, "name") == name)
            .ok_or_else(|| ApiError::NotFound {
                message: format!("collaboration {collab_id} has no schema named {name}"),
                resource_id: name.to_string(),
                resource_type: error::CONFIGURED_TABLE_ASSOCIATION,
            })?;
        Ok(json!({ "schema": schema_doc(state, collab, a) }))
    })
}

pub(crate) fn list_schemas(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let collab_id = s(input, "collaborationIdentifier");
    let wanted = opt_str(input, "schemaType");
    list_page(inner, input, "ListSchemas", "schemaSummaries", |state| {
        let collab = readable_collaboration(state, caller, collab_id)?;
        Ok(state
            .associations
            .iter()
            .filter(|a| a.collaboration_id == collab_id)
            .filter(|_| wanted.is_none_or(|w| w == "TABLE"))
            .map(|a| projected("SchemaSummary", &schema_doc(state, collab, a)))
            .collect())
    })
}
