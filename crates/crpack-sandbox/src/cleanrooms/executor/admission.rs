//! Admission: whether the tables a template references let the job run it.

use serde_json::Value;

use super::{Failure, TablePlan, codes, failure};
use crate::cleanrooms::state::{Doc, State, s};

/// Whether configured table `table` lets jobs by `runner_account` run template `template_arn`;
/// the reason (naming the table as `name`) if not.
pub(super) fn table_allows(
    table: &Doc,
    rules: &[Doc],
    name: &str,
    template_arn: &str,
    runner_account: &str,
) -> Result<(), String> {
    let table_id = s(table, "id");
    let method = s(table, "analysisMethod");
    let selected = table
        .get("selectedAnalysisMethods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x == "DIRECT_JOB"));
    if !(method == "DIRECT_JOB" || (method == "MULTIPLE" && selected)) {
        return Err(format!(
            "table {name} (configured table {table_id}) does not allow PySpark jobs: its analysisMethod is {} (jobs need DIRECT_JOB, or MULTIPLE with DIRECT_JOB selected)",
            if method.is_empty() { "unset" } else { method }
        ));
    }
    let Some(rule) = rules.iter().find(|r| s(r, "type") == "CUSTOM") else {
        return Err(format!(
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
    if allowed.iter().any(|a| a == template_arn)
        || (allowed.iter().any(|a| a == "ANY_JOB") && providers.iter().any(|p| p == runner_account))
    {
        return Ok(());
    }
    Err(format!(
        "table {name} (configured table {table_id}) does not allow analysis template {template_arn}: its CUSTOM analysis rule's allowedAnalyses is [{}]; the table's owner must add the template's ARN",
        allowed.join(", ")
    ))
}

pub(super) fn check_tables(
    state: &State,
    collaboration_id: &str,
    template_arn: &str,
    runner_account: &str,
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
        table_allows(&table.doc, &table.rules, name, template_arn, runner_account)
            .map_err(|m| failure(codes::ANALYSIS_TEMPLATE_NOT_ALLOWED, m))?;
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

    #[test]
    fn tables_allow_listed_templates_and_any_job_providers() {
        let arn = "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t";
        let table = json!({ "id": "ct", "analysisMethod": "DIRECT_JOB" });
        let table = table.as_object().unwrap();
        let rule = |custom: Value| {
            json!({ "type": "CUSTOM", "policy": { "v1": { "custom": custom } } })
                .as_object()
                .unwrap()
                .clone()
        };
        assert!(
            table_allows(
                table,
                &[rule(json!({ "allowedAnalyses": [arn] }))],
                "orders",
                arn,
                "1"
            )
            .is_ok()
        );
        let e = table_allows(
            table,
            &[rule(json!({ "allowedAnalyses": [] }))],
            "orders",
            arn,
            "1",
        )
        .unwrap_err();
        assert!(e.contains("table orders") && e.contains(arn), "{e}");
        assert!(
            table_allows(table, &[], "orders", arn, "1")
                .unwrap_err()
                .contains("no CUSTOM")
        );
        let any = rule(json!({ "allowedAnalyses": ["ANY_JOB"], "allowedAnalysisProviders": ["1"] }));
        assert!(table_allows(table, std::slice::from_ref(&any), "orders", arn, "1").is_ok());
        assert!(table_allows(table, &[any], "orders", arn, "2").is_err());
        let sql_only = json!({ "id": "ct", "analysisMethod": "DIRECT_QUERY" });
        let e = table_allows(
            sql_only.as_object().unwrap(),
            &[rule(json!({ "allowedAnalyses": [arn] }))],
            "orders",
            arn,
            "1",
        )
        .unwrap_err();
        assert!(e.contains("DIRECT_QUERY"), "{e}");
        let multiple = json!({ "id": "ct", "analysisMethod": "MULTIPLE", "selectedAnalysisMethods": ["DIRECT_QUERY", "DIRECT_JOB"] });
        assert!(
            table_allows(
                multiple.as_object().unwrap(),
                &[rule(json!({ "allowedAnalyses": [arn] }))],
                "orders",
                arn,
                "1"
            )
            .is_ok()
        );
    }
}
