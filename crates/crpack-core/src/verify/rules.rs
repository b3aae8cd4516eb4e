//! Approving and revoking: add (or remove) a template ARN in the CUSTOM analysis rule of each of
//! the reviewer's configured tables that the template references, and the result receivers the
//! reviewer names in its `allowedResultReceivers`, keeping every other field of the rule exactly
//! as it was, and reading the rule back to confirm.
//!
//! `allowedResultReceivers` absent means the rule restricts no receiver; a list (even an empty
//! one) admits only the accounts on it. Revoking the last receiver therefore leaves an empty list,
//! never an absent one, so a revocation cannot widen who receives results.

use aws_sdk_cleanrooms::types::{
    AnalysisRuleCustom, ConfiguredTableAnalysisRulePolicy, ConfiguredTableAnalysisRulePolicyV1,
    ConfiguredTableAnalysisRuleType, MemberAbility, MemberStatus,
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
    /// `allowedResultReceivers` after the change; `None`: the rule names none, so it restricts no
    /// receiver (an empty list admits none).
    pub allowed_result_receivers: Option<Vec<String>>,
    /// The receivers this change added (approve) or removed (revoke), in the order given.
    pub result_receivers_changed: Vec<String>,
}

impl TableOutcome {
    fn unchanged(
        table: &str,
        ct: Option<&str>,
        action: &str,
        rule: Option<&AnalysisRuleCustom>,
    ) -> TableOutcome {
        TableOutcome {
            table: table.into(),
            configured_table_id: ct.map(str::to_string),
            action: action.into(),
            allowed_analyses: rule.map(|r| r.allowed_analyses.clone()).unwrap_or_default(),
            allowed_result_receivers: rule.and_then(|r| r.allowed_result_receivers.clone()),
            result_receivers_changed: Vec::new(),
        }
    }
}

/// That each of `accounts` is an active member of the collaboration with `CAN_RECEIVE_RESULTS`
/// (ListMembers, all pages).
pub async fn check_receivers(aws: &Aws, collaboration_id: &str, accounts: &[String]) -> Result<()> {
    if accounts.is_empty() {
        return Ok(());
    }
    let members = aws::members(aws, collaboration_id).await?;
    for account in accounts {
        let why = match members.iter().find(|m| m.account_id() == account) {
            None => "it is not a member",
            Some(m) if *m.status() != MemberStatus::Active => "its membership is not active",
            Some(m) if !m.abilities().contains(&MemberAbility::CanReceiveResults) => {
                "it lacks the CAN_RECEIVE_RESULTS ability"
            }
            Some(_) => continue,
        };
        return Err(VerifyError::ReceiverCannotReceive {
            account: account.clone(),
            collaboration_id: collaboration_id.to_string(),
            why,
        }
        .into());
    }
    Ok(())
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

/// Applies `change` for `template_arn` on `tables` (association names) in `membership_id`, and
/// to `receivers` in each rule's `allowedResultReceivers` (added on approve, removed on revoke;
/// empty: that field is left as it is). `explicit`: the user named the tables, so one that is
/// not theirs is an error.
pub async fn apply(
    aws: &Aws,
    membership_id: &str,
    template_arn: &str,
    tables: &[String],
    explicit: bool,
    change: Change,
    receivers: &[String],
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
            outcomes.push(TableOutcome::unchanged(table, None, "not_yours", None));
            continue;
        };
        outcomes.push(apply_one(aws, table, ct, template_arn, change, receivers).await?);
    }
    Ok(outcomes)
}

/// The rule after `change`: the ARN and receivers added or removed; `None` when nothing changes.
/// Returns the receivers actually added or removed too.
fn edited(
    before: &AnalysisRuleCustom,
    arn: &str,
    change: Change,
    receivers: &[String],
) -> (Option<AnalysisRuleCustom>, Vec<String>) {
    let mut after = before.clone();
    let mut changed = Vec::new();
    match change {
        Change::Approve => {
            if !after.allowed_analyses.iter().any(|a| a == arn) {
                after.allowed_analyses.push(arn.to_string());
            }
            if !receivers.is_empty() {
                let list = after.allowed_result_receivers.get_or_insert_with(Vec::new);
                for r in receivers {
                    if !list.contains(r) && !changed.contains(r) {
                        list.push(r.clone());
                        changed.push(r.clone());
                    }
                }
            }
        }
        Change::Revoke => {
            after.allowed_analyses.retain(|a| a != arn);
            if let Some(list) = after.allowed_result_receivers.as_mut() {
                for r in receivers {
                    if list.contains(r) && !changed.contains(r) {
                        changed.push(r.clone());
                    }
                }
                // An emptied list stays a list: it admits no receiver, as before it admitted few.
                list.retain(|r| !receivers.contains(r));
            }
        }
    }
    ((after != *before).then_some(after), changed)
}

async fn apply_one(
    aws: &Aws,
    table: &str,
    ct: &str,
    arn: &str,
    change: Change,
    receivers: &[String],
) -> Result<TableOutcome> {
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
                Change::Revoke => Ok(TableOutcome::unchanged(table, Some(ct), "not_approved", None)),
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
        let action = match (change, present) {
            (Change::Approve, true) => "already_approved",
            (Change::Approve, false) => "added",
            (Change::Revoke, true) => "removed",
            (Change::Revoke, false) => "not_approved",
        };
        let (Some(after), changed) = edited(&before, arn, change, receivers) else {
            return Ok(TableOutcome::unchanged(table, Some(ct), action, Some(&before)));
        };
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
        // Read back: the change is there and nothing else changed.
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
            result_receivers_changed: changed,
            ..TableOutcome::unchanged(table, Some(ct), action, Some(&confirmed))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t";

    fn rule(analyses: &[&str], receivers: Option<&[&str]>) -> AnalysisRuleCustom {
        AnalysisRuleCustom::builder()
            .set_allowed_analyses(Some(analyses.iter().map(|a| a.to_string()).collect()))
            .set_allowed_result_receivers(receivers.map(|r| r.iter().map(|a| a.to_string()).collect()))
            .set_disallowed_output_columns(Some(vec!["email".into()]))
            .build()
            .unwrap()
    }

    fn accounts(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn approving_adds_the_arn_and_new_receivers_and_keeps_the_rest() {
        let before = rule(&["other"], None);
        let (after, changed) = edited(&before, ARN, Change::Approve, &accounts(&["2", "3", "2"]));
        assert_eq!(after, Some(rule(&["other", ARN], Some(&["2", "3"]))));
        assert_eq!(changed, accounts(&["2", "3"]));
        // Nothing named: the receivers field stays absent.
        let (after, changed) = edited(&before, ARN, Change::Approve, &[]);
        assert_eq!(after, Some(rule(&["other", ARN], None)));
        assert!(changed.is_empty());
        // Everything already there: nothing to write.
        let done = rule(&[ARN], Some(&["2"]));
        assert_eq!(
            edited(&done, ARN, Change::Approve, &accounts(&["2"])),
            (None, vec![])
        );
        // The ARN is there but a receiver is new: write, and say which one.
        let (after, changed) = edited(&done, ARN, Change::Approve, &accounts(&["3"]));
        assert_eq!(after, Some(rule(&[ARN], Some(&["2", "3"]))));
        assert_eq!(changed, accounts(&["3"]));
    }

    #[test]
    fn revoking_leaves_receivers_unless_named_and_never_widens_them() {
        let before = rule(&[ARN, "other"], Some(&["2"]));
        let (after, changed) = edited(&before, ARN, Change::Revoke, &[]);
        assert_eq!(after, Some(rule(&["other"], Some(&["2"]))));
        assert!(changed.is_empty());
        // Removing the last receiver leaves an empty list (no receiver), not an absent one (any).
        let (after, changed) = edited(&before, ARN, Change::Revoke, &accounts(&["2", "9"]));
        assert_eq!(after, Some(rule(&["other"], Some(&[]))));
        assert_eq!(changed, accounts(&["2"]));
        // A rule without the field keeps going without it.
        let open = rule(&["other"], None);
        assert_eq!(
            edited(&open, ARN, Change::Revoke, &accounts(&["2"])),
            (None, vec![])
        );
    }
}
