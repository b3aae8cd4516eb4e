//! What awaits a reviewer: every PySpark template in the membership's collaboration, and for each
//! of the reviewer's configured tables it reads, whether the table's CUSTOM rule allows it.

use aws_sdk_cleanrooms::types::{
    AnalysisFormat, AnalysisRuleCustom, CollaborationAnalysisTemplate, ErrorMessageType,
};
use serde::Serialize;

use crate::aws::{self, Aws};
use crate::error::{Error, Result};
use crate::verify::rules;

/// BatchGetCollaborationAnalysisTemplate takes at most this many ARNs per call.
const BATCH: usize = 10;

/// The wildcards a CUSTOM rule may hold instead of template ARNs.
const ANY_JOB: &str = "ANY_JOB";

/// One of the reviewer's configured tables that a template reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableAccess {
    /// The table's name in the collaboration (the association's name).
    pub table: String,
    pub configured_table_id: String,
    /// The table's CUSTOM rule lets jobs run this template.
    pub allowed: bool,
    /// `arn` (the rule lists the template), `any_job` (the rule allows any job from the
    /// template's creator), `no_rule` (the table has no CUSTOM rule) or `not_listed`.
    pub reason: &'static str,
    /// The rule's `allowedResultReceivers`: who may receive the results of jobs on the table.
    /// `None`: the rule names none, so it restricts no receiver; an empty list admits none.
    pub allowed_result_receivers: Option<Vec<String>>,
}

/// A PySpark template of the collaboration, as the reviewer's desk shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateEntry {
    pub arn: String,
    pub name: String,
    pub creator_account_id: String,
    /// RFC 3339.
    pub created: String,
    pub referenced_tables: Vec<String>,
    /// `BASIC` or `DETAILED`.
    pub error_messages: String,
    /// The reviewer's tables among `referenced_tables`, in that order.
    pub my_tables: Vec<TableAccess>,
    /// Reads at least one of the reviewer's tables and is not allowed on all of them.
    pub pending: bool,
}

/// The reviewer's desk for one membership.
#[derive(Debug, Clone, Serialize)]
pub struct TemplatesReport {
    pub membership_id: String,
    pub collaboration_id: String,
    /// Only templates awaiting the reviewer were kept (`--pending`).
    pub pending_only: bool,
    /// Newest first.
    pub templates: Vec<TemplateEntry>,
}

/// One of the reviewer's tables with its CUSTOM rule (None: the table has none).
struct MyTable {
    name: String,
    configured_table_id: String,
    rule: Option<AnalysisRuleCustom>,
}

/// Lists the collaboration's PySpark templates as the member `membership_id` sees them.
pub async fn list(aws: &Aws, membership_id: &str, pending_only: bool) -> Result<TemplatesReport> {
    let membership = aws::membership(aws, membership_id).await?;
    let collaboration_id = membership.collaboration_id().to_string();
    let mine = my_tables(aws, membership_id, None).await?;
    let arns = template_arns(aws, &collaboration_id).await?;
    let mut templates = Vec::new();
    for chunk in arns.chunks(BATCH) {
        for t in batch_get(aws, &collaboration_id, chunk).await? {
            if *t.format() != AnalysisFormat::Pyspark10 {
                continue;
            }
            let entry = entry(&t, &mine);
            if !pending_only || entry.pending {
                templates.push(entry);
            }
        }
    }
    templates.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.arn.cmp(&b.arn)));
    Ok(TemplatesReport {
        membership_id: membership_id.to_string(),
        collaboration_id,
        pending_only,
        templates,
    })
}

/// The reviewer's tables in the membership (only those named in `only`, when given), each with
/// its CUSTOM rule.
async fn my_tables(aws: &Aws, membership_id: &str, only: Option<&[String]>) -> Result<Vec<MyTable>> {
    let mut out = Vec::new();
    for (name, configured_table_id) in rules::associations(aws, membership_id).await? {
        if only.is_some_and(|only| !only.contains(&name)) {
            continue;
        }
        let rule = rules::read_custom(aws, &configured_table_id).await?;
        out.push(MyTable {
            name,
            configured_table_id,
            rule,
        });
    }
    Ok(out)
}

/// Every analysis template ARN in the collaboration (all pages).
async fn template_arns(aws: &Aws, collaboration_id: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = aws
        .cleanrooms
        .list_collaboration_analysis_templates()
        .collaboration_identifier(collaboration_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws::describe(
                &format!("ListCollaborationAnalysisTemplates {collaboration_id}"),
                &e,
            )
        })?;
        arns.extend(
            page.collaboration_analysis_template_summaries()
                .iter()
                .map(|s| s.arn().to_string()),
        );
    }
    Ok(arns)
}

/// The full templates behind `arns` (at most [`BATCH`]); a template the service could not return
/// is an error naming it.
async fn batch_get(
    aws: &Aws,
    collaboration_id: &str,
    arns: &[String],
) -> Result<Vec<CollaborationAnalysisTemplate>> {
    let out = aws
        .cleanrooms
        .batch_get_collaboration_analysis_template()
        .collaboration_identifier(collaboration_id)
        .set_analysis_template_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| {
            aws::describe(
                &format!("BatchGetCollaborationAnalysisTemplate {collaboration_id}"),
                &e,
            )
        })?;
    if let Some(err) = out.errors().first() {
        return Err(Error::Remote(aws::RemoteError {
            call: Some("BatchGetCollaborationAnalysisTemplate".into()),
            code: Some(err.code().to_string()),
            detail: format!(
                "template {} could not be read: {} ({}); check that these credentials belong to a member \
                 of collaboration {collaboration_id}",
                crate::text::escape(err.arn()),
                crate::text::escape(err.message()),
                crate::text::escape(err.code()),
            ),
        }));
    }
    Ok(out.collaboration_analysis_templates().to_vec())
}

/// The desk's line for one template.
fn entry(t: &CollaborationAnalysisTemplate, mine: &[MyTable]) -> TemplateEntry {
    let referenced: Vec<String> = t
        .schema()
        .map(|s| s.referenced_tables().to_vec())
        .unwrap_or_default();
    let my_tables = accesses(&referenced, mine, t.arn(), t.creator_account_id());
    let pending = !my_tables.is_empty() && my_tables.iter().any(|a| !a.allowed);
    TemplateEntry {
        arn: t.arn().to_string(),
        name: t.name().to_string(),
        creator_account_id: t.creator_account_id().to_string(),
        created: rfc3339(t.create_time()),
        referenced_tables: referenced,
        error_messages: match t.error_message_configuration().map(|c| c.r#type()) {
            Some(ErrorMessageType::Detailed) => "DETAILED".to_string(),
            Some(other) => other.as_str().to_string(),
            None => "BASIC".to_string(),
        },
        my_tables,
        pending,
    }
}

/// Whether table `m`'s CUSTOM rule lets jobs run template `arn` made by `creator`.
fn access(m: &MyTable, arn: &str, creator: &str) -> TableAccess {
    let (allowed, reason) = match &m.rule {
        None => (false, "no_rule"),
        Some(rule) => allowed_by(rule, arn, creator),
    };
    TableAccess {
        table: m.name.clone(),
        configured_table_id: m.configured_table_id.clone(),
        allowed,
        reason,
        allowed_result_receivers: m.rule.as_ref().and_then(|r| r.allowed_result_receivers.clone()),
    }
}

/// For each of the reviewer's tables among `referenced` (in that order), whether its CUSTOM rule
/// lets jobs run template `arn` made by `creator`, and who may receive the results.
pub async fn access_of(
    aws: &Aws,
    membership_id: &str,
    referenced: &[String],
    arn: &str,
    creator: &str,
) -> Result<Vec<TableAccess>> {
    let mine = my_tables(aws, membership_id, Some(referenced)).await?;
    Ok(accesses(referenced, &mine, arn, creator))
}

/// [`access`] for each of `mine` among `referenced`, in `referenced`'s order.
fn accesses(referenced: &[String], mine: &[MyTable], arn: &str, creator: &str) -> Vec<TableAccess> {
    referenced
        .iter()
        .filter_map(|name| mine.iter().find(|m| &m.name == name))
        .map(|m| access(m, arn, creator))
        .collect()
}

/// A CUSTOM rule allows a template it lists by ARN, or any job from an allowed provider when it
/// holds `ANY_JOB` (every provider when `allowedAnalysisProviders` is empty).
fn allowed_by(rule: &AnalysisRuleCustom, arn: &str, creator: &str) -> (bool, &'static str) {
    let listed = rule.allowed_analyses();
    if listed.iter().any(|a| a == arn) {
        return (true, "arn");
    }
    let providers = rule.allowed_analysis_providers();
    if listed.iter().any(|a| a == ANY_JOB) && (providers.is_empty() || providers.iter().any(|p| p == creator))
    {
        return (true, "any_job");
    }
    (false, "not_listed")
}

fn rfc3339(t: &aws_smithy_types::DateTime) -> String {
    t.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| t.secs().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(analyses: &[&str], providers: &[&str]) -> AnalysisRuleCustom {
        AnalysisRuleCustom::builder()
            .set_allowed_analyses(Some(analyses.iter().map(|s| s.to_string()).collect()))
            .set_allowed_analysis_providers(Some(providers.iter().map(|s| s.to_string()).collect()))
            .build()
            .unwrap()
    }

    const ARN: &str = "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t";

    #[test]
    fn a_listed_arn_allows() {
        assert_eq!(allowed_by(&rule(&[ARN], &[]), ARN, "111111111111"), (true, "arn"));
        assert_eq!(
            allowed_by(&rule(&["arn:other"], &[]), ARN, "111111111111"),
            (false, "not_listed")
        );
    }

    #[test]
    fn any_job_allows_only_the_allowed_providers() {
        assert_eq!(
            allowed_by(&rule(&[ANY_JOB], &[]), ARN, "111111111111"),
            (true, "any_job")
        );
        assert_eq!(
            allowed_by(&rule(&[ANY_JOB], &["111111111111"]), ARN, "111111111111"),
            (true, "any_job")
        );
        assert_eq!(
            allowed_by(&rule(&[ANY_JOB], &["333333333333"]), ARN, "111111111111"),
            (false, "not_listed")
        );
        // ANY_QUERY is for SQL queries, not jobs.
        assert_eq!(
            allowed_by(&rule(&["ANY_QUERY"], &[]), ARN, "111111111111"),
            (false, "not_listed")
        );
    }

    #[test]
    fn pending_needs_one_of_my_tables_not_allowed() {
        let mine = vec![
            MyTable {
                name: "orders".into(),
                configured_table_id: "ct-1".into(),
                rule: Some(rule(&[ARN], &[])),
            },
            MyTable {
                name: "customers".into(),
                configured_table_id: "ct-2".into(),
                rule: None,
            },
        ];
        let template = |tables: &[&str]| {
            CollaborationAnalysisTemplate::builder()
                .id("t")
                .arn(ARN)
                .collaboration_id("c")
                .collaboration_arn("arn:c")
                .creator_account_id("111111111111")
                .name("n")
                .create_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .update_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .format(AnalysisFormat::Pyspark10)
                .schema(
                    aws_sdk_cleanrooms::types::AnalysisSchema::builder()
                        .set_referenced_tables(Some(tables.iter().map(|s| s.to_string()).collect()))
                        .build(),
                )
                .build()
                .unwrap()
        };
        let both = entry(&template(&["orders", "customers"]), &mine);
        assert!(both.pending);
        assert_eq!(both.my_tables.len(), 2);
        assert_eq!(both.my_tables[1].reason, "no_rule");
        assert_eq!(both.created, "2023-11-14T22:13:20Z");
        let orders = entry(&template(&["orders"]), &mine);
        assert!(!orders.pending);
        let theirs = entry(&template(&["elsewhere"]), &mine);
        assert!(!theirs.pending && theirs.my_tables.is_empty());
    }
}
