//! The reviewer's own rules (`--policy FILE`, TOML), checked before approving.
//!
//! ```toml
//! allow_detailed_errors = false                 # refuse DETAILED error messages
//! allowed_creator_accounts = ["111111111111"]   # who may author templates we approve
//! allowed_tables = ["orders", "customers"]      # tables a template may reference
//! allowed_parameters = ["min_customers"]        # parameter names a template may declare
//! max_parameters = 10
//! ```
//! Every key is optional; an absent key allows anything.

use std::path::Path;

use serde::Deserialize;

use super::VerifyError;
use crate::error::{IoContext, Result};
use crate::report::TemplateSummary;

/// A reviewer policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "yes")]
    pub allow_detailed_errors: bool,
    pub allowed_creator_accounts: Option<Vec<String>>,
    pub allowed_tables: Option<Vec<String>>,
    pub allowed_parameters: Option<Vec<String>>,
    pub max_parameters: Option<usize>,
}

fn yes() -> bool {
    true
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).with_path(path)?;
        toml::from_str(&text).map_err(|e| {
            VerifyError::InvalidPolicy {
                path: path.to_path_buf(),
                detail: e.to_string().trim_end().to_string(),
            }
            .into()
        })
    }

    /// The rules the template breaks, one line each.
    pub fn violations(&self, t: &TemplateSummary) -> Vec<String> {
        let mut out = Vec::new();
        if !self.allow_detailed_errors && t.error_messages == "DETAILED" {
            out.push(
                "the template uses DETAILED error messages, which the policy does not allow".to_string(),
            );
        }
        if let Some(accounts) = &self.allowed_creator_accounts
            && !accounts.contains(&t.creator_account_id)
        {
            out.push(format!(
                "the template's creator account {} is not in allowed_creator_accounts",
                t.creator_account_id
            ));
        }
        if let Some(tables) = &self.allowed_tables {
            for table in &t.referenced_tables {
                if !tables.contains(table) {
                    out.push(format!(
                        "the template references table {table:?}, which is not in allowed_tables"
                    ));
                }
            }
        }
        if let Some(params) = &self.allowed_parameters {
            for p in &t.parameters {
                if !params.contains(&p.name) {
                    out.push(format!(
                        "the template declares parameter {:?}, which is not in allowed_parameters",
                        p.name
                    ));
                }
            }
        }
        if let Some(max) = self.max_parameters
            && t.parameters.len() > max
        {
            out.push(format!(
                "the template declares {} parameters; the policy allows {max}",
                t.parameters.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ParameterSummary;

    fn summary() -> TemplateSummary {
        TemplateSummary {
            arn: "a".into(),
            name: "n".into(),
            description: None,
            creator_account_id: "111111111111".into(),
            collaboration_id: "c".into(),
            format: "PYSPARK_1_0".into(),
            referenced_tables: vec!["orders".into(), "customers".into()],
            parameters: vec![ParameterSummary {
                name: "min_customers".into(),
                kind: "STRING".into(),
                default: Some("1".into()),
            }],
            error_messages: "DETAILED".into(),
            role_arn: None,
            artifacts: vec![],
        }
    }

    #[test]
    fn empty_policy_allows_everything() {
        let p: Policy = toml::from_str("").unwrap();
        assert!(p.violations(&summary()).is_empty());
    }

    #[test]
    fn each_rule_reports_its_violation() {
        let p: Policy = toml::from_str(
            "allow_detailed_errors = false\nallowed_creator_accounts = [\"222222222222\"]\n\
             allowed_tables = [\"orders\"]\nallowed_parameters = []\nmax_parameters = 0\n",
        )
        .unwrap();
        let v = p.violations(&summary());
        assert_eq!(v.len(), 5, "{v:?}");
        assert!(toml::from_str::<Policy>("allow_everything = true").is_err());
    }
}
