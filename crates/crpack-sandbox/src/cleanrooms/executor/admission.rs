//! Admission: whether the tables a template references let the job run it.

use serde_json::Value;

use super::{Failure, TablePlan, codes, failure};
use crate::cleanrooms::state::{Doc, State, s};

/// Who runs a job and who receives its results.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parties<'a> {
    pub runner: &'a str,
    pub receiver: &'a str,
}

/// Why a table refuses a job: the error code and the message (naming the table).
type Refusal = (&'static str, String);

/// Whether configured table `table` lets jobs by `parties.runner` run template `template_arn`
/// with results going to `parties.receiver`; the code and reason (naming the table as `name`)
/// if not.
pub(super) fn table_allows(
    table: &Doc,
    rules: &[Doc],
    name: &str,
    template_arn: &str,
    parties: Parties<'_>,
) -> Result<(), Refusal> {
    let refuse = |message: String| Err((codes::ANALYSIS_TEMPLATE_NOT_ALLOWED, message));
    let table_id = s(table, "id");
    let method = s(table, "analysisMethod");
    let selected = table
        .get("selectedAnalysisMethods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x == "DIRECT_JOB"));
    if !(method == "DIRECT_JOB" || (method == "MULTIPLE" && selected)) {
        return refuse(format!(
            "table {name} (configured table {table_id}) does not allow PySpark jobs: its analysisMethod is {} (jobs need DIRECT_JOB, or MULTIPLE with DIRECT_JOB selected)",
            if method.is_empty() { "unset" } else { method }
        ));
    }
    let Some(rule) = rules.iter().find(|r| s(r, "type") == "CUSTOM") else {
        return refuse(format!(
            "table {name} (configured table {table_id}) has no CUSTOM analysis rule, so it allows no analysis template"
        ));
    };
    let custom = &rule["policy"]["v1"]["custom"];
    let strings = |key: &str| -> Vec<String> {
        custom[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let allowed = strings("allowedAnalyses");
    let providers = strings("allowedAnalysisProviders");
    if !(allowed.iter().any(|a| a == template_arn)
        || (allowed.iter().any(|a| a == "ANY_JOB") && providers.iter().any(|p| p == parties.runner)))
    {
        return refuse(format!(
            "table {name} (configured table {table_id}) does not allow analysis template {template_arn}: its CUSTOM analysis rule's allowedAnalyses is [{}]; the table's owner must add the template's ARN",
            allowed.join(", ")
        ));
    }
    // A rule that names result receivers restricts them; one that names none (the field is
    // absent, as on every rule written before the field existed) restricts no receiver.
    if custom.get("allowedResultReceivers").is_some_and(Value::is_array) {
        let receivers = strings("allowedResultReceivers");
        if !receivers.iter().any(|r| r == parties.receiver) {
            return Err((
                codes::RESULT_RECEIVER_NOT_ALLOWED,
                format!(
                    "table {name} (configured table {table_id}) does not allow results to go to account {}: its CUSTOM analysis rule's allowedResultReceivers is [{}]; the table's owner must add the receiver to allowedResultReceivers",
                    parties.receiver,
                    receivers.join(", "),
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn check_tables(
    state: &State,
    collaboration_id: &str,
    template_arn: &str,
    parties: Parties<'_>,
    referenced: &[String],
) -> Result<Vec<TablePlan>, Failure> {
    let mut plans = Vec::new();
    for name in referenced {
        // CreateAnalysisTemplate accepts tables that are not associated yet, so the job is where
        // an unassociated table surfaces. The API reference documents these values of
        // `ProtectedJobError.code`: MALFORMED_SCRIPT, RESOURCE_NOT_FOUND ("a referenced resource
        // doesn't exist"), INVALID_RESOURCE (it exists but cannot be used), RESOURCE_ACCESS_DENIED
        // (a permission is missing), INSUFFICIENT_COMPUTE, TRANSIENT_ERROR, INTERNAL_ERROR and
        // UNKNOWN_ERROR. A table name with no association in the collaboration is a referenced
        // resource that does not exist there, so RESOURCE_NOT_FOUND: not INVALID_RESOURCE (there
        // is nothing to be misconfigured) and not RESOURCE_ACCESS_DENIED (that is what the
        // analysis rule check below is about). Starting the job again after the owner associates
        // the table succeeds, so the message says exactly that.
        let association = state
            .associations
            .iter()
            .find(|a| a.collaboration_id == collaboration_id && s(&a.doc, "name") == name)
            .ok_or_else(|| {
                failure(
                    codes::RESOURCE_NOT_FOUND,
                    format!(
                        "table {name} is not associated with collaboration {collaboration_id}: analysis template {template_arn} references it, but no member has associated a configured table under that name; the table's owner must associate it (CreateConfiguredTableAssociation with name {name}), then start the job again"
                    ),
                )
            })?;
        let table_id = s(&association.doc, "configuredTableId");
        let table = state.table(table_id).ok_or_else(|| {
            failure(
                codes::RESOURCE_NOT_FOUND,
                format!(
                    "table {name}: configured table {table_id} no longer exists; its owner must associate an existing configured table as {name}, then start the job again"
                ),
            )
        })?;
        table_allows(&table.doc, &table.rules, name, template_arn, parties)
            .map_err(|(code, m)| failure(code, m))?;
        let glue = table
            .doc
            .get("tableReference")
            .and_then(|r| r.get("glue"))
            .map(|g| {
                (
                    g["databaseName"].as_str().unwrap_or_default().to_string(),
                    g["tableName"].as_str().unwrap_or_default().to_string(),
                )
            });
        plans.push(TablePlan {
            name: name.clone(),
            owner_account: table.account_id.clone(),
            glue,
        });
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t";

    fn doc(v: Value) -> Doc {
        v.as_object().unwrap().clone()
    }

    fn custom(policy: Value) -> Doc {
        doc(json!({ "type": "CUSTOM", "policy": { "v1": { "custom": policy } } }))
    }

    /// Runs `table_allows` for runner `1`, receiver `receiver`.
    fn judge(table: Value, rules: &[Doc], receiver: &str) -> Result<(), Refusal> {
        let parties = Parties {
            runner: "1",
            receiver,
        };
        table_allows(&doc(table), rules, "orders", ARN, parties)
    }

    #[test]
    fn tables_allow_listed_templates_and_any_job_providers() {
        let direct = json!({ "id": "ct", "analysisMethod": "DIRECT_JOB" });
        let listed = custom(json!({ "allowedAnalyses": [ARN] }));
        assert!(judge(direct.clone(), std::slice::from_ref(&listed), "1").is_ok());
        let (code, e) = judge(direct.clone(), &[custom(json!({ "allowedAnalyses": [] }))], "1").unwrap_err();
        assert_eq!(code, codes::ANALYSIS_TEMPLATE_NOT_ALLOWED);
        assert!(e.contains("table orders") && e.contains(ARN), "{e}");
        assert!(
            judge(direct.clone(), &[], "1")
                .unwrap_err()
                .1
                .contains("no CUSTOM")
        );
        let any = custom(json!({ "allowedAnalyses": ["ANY_JOB"], "allowedAnalysisProviders": ["1"] }));
        assert!(judge(direct.clone(), std::slice::from_ref(&any), "1").is_ok());
        let other_runner = Parties {
            runner: "2",
            receiver: "2",
        };
        assert!(table_allows(&doc(direct), &[any], "orders", ARN, other_runner).is_err());
        let sql_only = json!({ "id": "ct", "analysisMethod": "DIRECT_QUERY" });
        let e = judge(sql_only, std::slice::from_ref(&listed), "1").unwrap_err().1;
        assert!(e.contains("DIRECT_QUERY"), "{e}");
        let multiple = json!({ "id": "ct", "analysisMethod": "MULTIPLE", "selectedAnalysisMethods": ["DIRECT_QUERY", "DIRECT_JOB"] });
        assert!(judge(multiple, &[listed], "1").is_ok());
    }

    #[test]
    fn a_rule_naming_result_receivers_admits_only_them() {
        let direct = json!({ "id": "ct", "analysisMethod": "DIRECT_JOB" });
        let rule = |receivers: Value| {
            custom(json!({ "allowedAnalyses": [ARN], "allowedResultReceivers": receivers }))
        };
        // No list: no restriction. A list: the receiver must be on it; an empty list admits none.
        assert!(
            judge(
                direct.clone(),
                &[custom(json!({ "allowedAnalyses": [ARN] }))],
                "9"
            )
            .is_ok()
        );
        assert!(judge(direct.clone(), &[rule(json!(["9", "1"]))], "9").is_ok());
        for (receivers, receiver) in [(json!(["1"]), "9"), (json!([]), "1")] {
            let (code, e) = judge(direct.clone(), &[rule(receivers)], receiver).unwrap_err();
            assert_eq!(code, codes::RESULT_RECEIVER_NOT_ALLOWED);
            assert!(
                e.contains("table orders") && e.contains(&format!("account {receiver}")),
                "{e}"
            );
            assert!(
                e.contains("must add the receiver to allowedResultReceivers"),
                "{e}"
            );
        }
    }
}
