//! Approving and revoking: add (or remove) a template ARN in the CUSTOM analysis rule of each of
//! the reviewer's configured tables that the template references, keeping every other field of
//! the rule exactly as it was, and reading the rule back to confirm.

use aws_sdk_cleanrooms::types::{
    AnalysisRuleCustom, ConfiguredTableAnalysisRulePolicy, ConfiguredTableAnalysisRulePolicyV1,
    ConfiguredTableAnalysisRuleType,
};
use serde::Serialize;

use super::VerifyError;
use crate::aws::{self, Aws, RemoteError};
use crate::error::Result;

/// What to do with the ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Approve,
    Revoke,
}

/// What happened on one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub configured_table_id: Option<String>,
    /// `added`, `removed`, `already_approved`, `not_approved` or `not_yours` (the table belongs
    /// to another member; nothing to do here).
    pub action: String,
    /// `allowedAnalyses` after the change.
    pub allowed_analyses: Vec<String>,
}

const WILDCARDS: [&str; 2] = ["ANY_QUERY", "ANY_JOB"];
const CONFLICT_RETRIES: usize = 5;

/// The reviewer's configured tables associated in `membership_id`, by association name.
pub async fn associations(aws: &Aws, membership_id: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let request = aws.cleanrooms.list_configured_table_associations();
    aws::each_page!(
        request.membership_identifier(membership_id),
        &format!("ListConfiguredTableAssociations {membership_id}"),
        |page| out.extend(
            page.configured_table_association_summaries()
                .iter()
                .map(|s| (s.name().to_string(), s.configured_table_id().to_string())),
        )
    );
    Ok(out)
}

/// Reads a table's CUSTOM rule; `None` when the table has none.
pub async fn read_custom(aws: &Aws, configured_table_id: &str) -> Result<Option<AnalysisRuleCustom>> {
    let out = aws
        .cleanrooms
        .get_configured_table_analysis_rule()
        .configured_table_identifier(configured_table_id)
        .analysis_rule_type(ConfiguredTableAnalysisRuleType::Custom)
        .send()
        .await;
    match out {
        Ok(o) => match o.analysis_rule().and_then(|r| r.policy()) {
            Some(ConfiguredTableAnalysisRulePolicy::V1(ConfiguredTableAnalysisRulePolicyV1::Custom(c))) => {
                Ok(Some(c.clone()))
            }
            _ => Err(RemoteError::state(format!(
                "the CUSTOM analysis rule of configured table {configured_table_id} has an unexpected policy shape"
            ))
            .into()),
        },
        Err(e) if aws::status(&e) == Some(404) => Ok(None),
        Err(e) => Err(aws::describe(
            &format!("GetConfiguredTableAnalysisRule {configured_table_id} CUSTOM"),
            &e,
        )),
    }
}

async fn write_custom(
    aws: &Aws,
    configured_table_id: &str,
    rule: AnalysisRuleCustom,
) -> std::result::Result<(), aws_sdk_cleanrooms::error::SdkError<
    aws_sdk_cleanrooms::operation::update_configured_table_analysis_rule::UpdateConfiguredTableAnalysisRuleError,
    aws_sdk_cleanrooms::config::http::HttpResponse,
>>{
    aws.cleanrooms
        .update_configured_table_analysis_rule()
        .configured_table_identifier(configured_table_id)
        .analysis_rule_type(ConfiguredTableAnalysisRuleType::Custom)
        .analysis_rule_policy(ConfiguredTableAnalysisRulePolicy::V1(
            ConfiguredTableAnalysisRulePolicyV1::Custom(rule),
        ))
        .send()
        .await
        .map(|_| ())
}

/// Applies `change` for `template_arn` on `tables` (association names) in `membership_id`.
/// `explicit`: the user named the tables, so one that is not theirs is an error.
pub async fn apply(
    aws: &Aws,
    membership_id: &str,
    template_arn: &str,
    tables: &[String],
    explicit: bool,
    change: Change,
) -> Result<Vec<TableOutcome>> {
    let mine = associations(aws, membership_id).await?;
    let mut outcomes = Vec::new();
    for table in tables {
        let Some((_, ct)) = mine.iter().find(|(n, _)| n == table) else {
            if explicit {
                // The membership's remote state, not the command line: exit 3.
                return Err(RemoteError::state(format!(
                    "table {table:?} is not one of your configured table associations in membership {membership_id}; \
                     name one of yours with --table, or associate the configured table first"
                ))
                .into());
            }
            outcomes.push(TableOutcome {
                table: table.clone(),
                configured_table_id: None,
                action: "not_yours".into(),
                allowed_analyses: vec![],
            });
            continue;
        };
        outcomes.push(apply_one(aws, table, ct, template_arn, change).await?);
    }
    Ok(outcomes)
}

async fn apply_one(aws: &Aws, table: &str, ct: &str, arn: &str, change: Change) -> Result<TableOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(before) = read_custom(aws, ct).await? else {
            return match change {
                Change::Approve => Err(VerifyError::NoCustomRule {
                    table: table.into(),
                    configured_table: ct.into(),
                    template_arn: arn.into(),
                }
                .into()),
                Change::Revoke => Ok(TableOutcome {
                    table: table.into(),
                    configured_table_id: Some(ct.into()),
                    action: "not_approved".into(),
                    allowed_analyses: vec![],
                }),
            };
        };
        if let Some(w) = before
            .allowed_analyses
            .iter()
            .find(|a| WILDCARDS.contains(&a.as_str()))
        {
            return Err(VerifyError::WildcardRule {
                table: table.into(),
                wildcard: w.clone(),
            }
            .into());
        }
        let present = before.allowed_analyses.iter().any(|a| a == arn);
        let mut after = before.clone();
        match (change, present) {
            (Change::Approve, true) | (Change::Revoke, false) => {
                return Ok(TableOutcome {
                    table: table.into(),
                    configured_table_id: Some(ct.into()),
                    action: if present {
                        "already_approved"
                    } else {
                        "not_approved"
                    }
                    .into(),
                    allowed_analyses: before.allowed_analyses,
                });
            }
            (Change::Approve, false) => after.allowed_analyses.push(arn.to_string()),
            (Change::Revoke, true) => after.allowed_analyses.retain(|a| a != arn),
        }
        match write_custom(aws, ct, after.clone()).await {
            Ok(()) => {}
            Err(e) if aws::is_code(&e, &["ConflictException"]) && attempt < CONFLICT_RETRIES => continue,
            Err(e) => {
                return Err(aws::describe(
                    &format!("UpdateConfiguredTableAnalysisRule {ct} CUSTOM"),
                    &e,
                ));
            }
        }
        // Read back: the ARN is (or is no longer) there and nothing else changed.
        let confirmed = read_custom(aws, ct).await?.ok_or_else(|| {
            RemoteError::state(format!("the CUSTOM rule of {ct} vanished after the update"))
        })?;
        if confirmed != after {
            if attempt < CONFLICT_RETRIES {
                continue; // someone else changed the rule meanwhile: re-read and re-apply
            }
            return Err(RemoteError::state(format!(
                "the CUSTOM rule of table {table} reads back differently from what was written; check it with \
                 aws cleanrooms get-configured-table-analysis-rule --configured-table-identifier {ct} \
                 --analysis-rule-type CUSTOM"
            ))
            .into());
        }
        return Ok(TableOutcome {
            table: table.into(),
            configured_table_id: Some(ct.into()),
            action: match change {
                Change::Approve => "added",
                Change::Revoke => "removed",
            }
            .into(),
            allowed_analyses: confirmed.allowed_analyses,
        });
    }
}
