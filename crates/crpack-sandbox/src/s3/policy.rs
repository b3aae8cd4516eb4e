//! Bucket policies: the small subset of the IAM policy language the sandbox evaluates.
//!
//! A policy grants other accounts read access to a bucket. Statements with `Effect: Allow` or
//! `Deny`, a `Principal` (`"*"`, `{"AWS": "<account id>" | "arn:aws:iam::<account>:root" | ...}`),
//! `Action` (glob patterns such as `s3:GetObject` or `s3:*`, case-insensitive) and `Resource`
//! (ARN globs such as `arn:aws:s3:::bucket/*`) are understood. `Condition` blocks are ignored.
//! An explicit Deny wins over an Allow; without a matching Allow access is denied.

use serde_json::Value;

/// Why a policy document was rejected (`MalformedPolicy`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

/// A parsed policy statement.
#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    principals: Vec<String>,
    actions: Vec<String>,
    resources: Option<Vec<String>>,
}

/// A parsed bucket policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PolicyError(format!("{what} entries must be strings")))
            })
            .collect(),
        _ => Err(PolicyError(format!(
            "{what} must be a string or a list of strings"
        ))),
    }
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| PolicyError(format!("Policies must be valid JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| PolicyError("Policies must be a JSON object".into()))?;
        let raw =
            field(obj, "Statement").ok_or_else(|| PolicyError("Missing required field Statement".into()))?;
        let raw: Vec<&Value> = match raw {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![raw],
            _ => return Err(PolicyError("Statement must be an object or a list".into())),
        };
        if raw.is_empty() {
            return Err(PolicyError("Statement must not be empty".into()));
        }
        let mut statements = Vec::new();
        for stmt in raw {
            let stmt = stmt
                .as_object()
                .ok_or_else(|| PolicyError("Each statement must be an object".into()))?;
            let allow = match field(stmt, "Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err(PolicyError("Invalid effect: Effect must be Allow or Deny".into())),
            };
            let principals = match field(stmt, "Principal") {
                Some(Value::String(s)) if s == "*" => vec!["*".to_owned()],
                Some(Value::Object(p)) => {
                    let mut out = Vec::new();
                    for (kind, v) in p {
                        let vals = strings(v, "Principal")?;
                        if kind == "AWS" {
                            out.extend(vals);
                        } else {
                            // Service or federated principals never match a sandbox account.
                            out.extend(vals.into_iter().map(|v| format!("{kind}:{v}")));
                        }
                    }
                    out
                }
                Some(_) => return Err(PolicyError("Invalid principal in policy".into())),
                None => return Err(PolicyError("Missing required field Principal".into())),
            };
            let actions = match field(stmt, "Action") {
                Some(v) => strings(v, "Action")?,
                None => return Err(PolicyError("Missing required field Action".into())),
            };
            for action in &actions {
                if action != "*" && !action.to_ascii_lowercase().starts_with("s3:") {
                    return Err(PolicyError(format!("Policy has invalid action: {action}")));
                }
            }
            let resources = field(stmt, "Resource")
                .map(|v| strings(v, "Resource"))
                .transpose()?;
            statements.push(Statement {
                allow,
                principals,
                actions,
                resources,
            });
        }
        Ok(Policy { statements })
    }

    /// Whether `account` may perform any of `actions` on `resource` (an `arn:aws:s3:::...` ARN).
    pub fn allows(&self, account: &str, actions: &[&str], resource: &str) -> bool {
        let applies = |s: &Statement| {
            s.principals.iter().any(|p| principal_matches(p, account))
                && actions.iter().any(|a| {
                    s.actions
                        .iter()
                        .any(|pat| glob(&pat.to_ascii_lowercase(), &a.to_ascii_lowercase()))
                })
                && s.resources
                    .as_ref()
                    .is_none_or(|rs| rs.iter().any(|r| glob(r, resource)))
        };
        let mut allowed = false;
        for s in &self.statements {
            if applies(s) {
                if !s.allow {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }
}

fn principal_matches(principal: &str, account: &str) -> bool {
    if principal == "*" || principal == account {
        return true;
    }
    // arn:aws:iam::<account>:root, :role/..., :user/...
    principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(acct, _)| acct == account)
}

/// Glob match with `*` (any run) and `?` (any one character).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str = "222222222222";
    const OUTSIDER: &str = "333333333333";

    fn policy(statement: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/x"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(glob("arn:aws:s3:::b*", "arn:aws:s3:::b"));
        assert!(glob("s3:get*", "s3:getobjectversion"));
        assert!(glob("s3:getobjec?", "s3:getobject"));
        assert!(!glob("s3:getobject", "s3:getobjectversion"));
        assert!(glob("*", ""));
    }

    #[test]
    fn account_principals_in_every_form() {
        for principal in [
            r#""*""#,
            r#"{"AWS":"222222222222"}"#,
            r#"{"AWS":"arn:aws:iam::222222222222:root"}"#,
            r#"{"AWS":["111111111111","arn:aws:iam::222222222222:role/reader"]}"#,
        ] {
            let p = policy(&format!(
                r#"{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#
            ));
            assert!(
                p.allows(PROVIDER, &["s3:GetObject"], "arn:aws:s3:::b/key"),
                "{principal}"
            );
        }
        let p =
            policy(r#"{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"s3:*","Resource":"*"}"#);
        assert!(!p.allows(OUTSIDER, &["s3:GetObject"], "arn:aws:s3:::b/key"));
    }

    #[test]
    fn actions_and_resources_must_match() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}"#,
        );
        assert!(p.allows(PROVIDER, &["s3:GetObject"], "arn:aws:s3:::b/k"));
        assert!(p.allows(PROVIDER, &["s3:listbucket"], "arn:aws:s3:::b"));
        assert!(!p.allows(PROVIDER, &["s3:GetObjectVersion"], "arn:aws:s3:::b/k"));
        assert!(!p.allows(PROVIDER, &["s3:GetObject"], "arn:aws:s3:::other/k"));
    }

    #[test]
    fn deny_wins() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
               {"Effect":"Deny","Principal":{"AWS":"333333333333"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#,
        );
        assert!(p.allows(PROVIDER, &["s3:GetObject"], "arn:aws:s3:::b/k"));
        assert!(!p.allows(OUTSIDER, &["s3:GetObject"], "arn:aws:s3:::b/k"));
    }

    #[test]
    fn malformed_policies_are_rejected() {
        for text in [
            "not json",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*"}]}"#,
        ] {
            assert!(Policy::parse(text).is_err(), "{text}");
        }
    }
}
