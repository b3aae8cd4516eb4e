//! The trimmed service model (`model.json`, derived from botocore by `fixtures/derive-routes.py`)
//! and a generic validator over it.
//!
//! Every request's input (URI labels, query parameters and JSON body merged into one object) is
//! checked against the operation's input shape: required members, unions (exactly one member
//! set), enum values, string lengths and anchored patterns, list and map sizes, number ranges.
//! Debug builds also check every success response against the output shape, so a member the
//! SDK would not accept is caught in tests instead of in a user's terminal.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

/// One violated constraint: the member path (`source.artifacts.roleArn`,
/// `analysisParameters.1.member.name`) and a Coral-style message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub name: String,
    pub message: String,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub shape: String,
    /// `uri`, `querystring` or `header`; `None` for body members.
    pub location: Option<String>,
    pub location_name: String,
}

#[derive(Debug)]
pub(crate) enum Shape {
    Structure {
        members: Vec<(String, Member)>,
        required: Vec<String>,
        union: bool,
    },
    List {
        member: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Map {
        key: String,
        value: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    String {
        min: Option<f64>,
        max: Option<f64>,
        enumeration: Option<Vec<String>>,
        pattern: Option<(Regex, String)>,
        not_blank: Option<String>,
        not_ip_address: bool,
    },
    Integer {
        min: Option<f64>,
        max: Option<f64>,
    },
    Double {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    Timestamp,
}

/// The model: operations' input/output shape names and the shapes.
#[derive(Debug)]
pub(crate) struct Model {
    operations: HashMap<String, (Option<String>, Option<String>)>,
    shapes: HashMap<String, Shape>,
}

/// The embedded model, parsed once.
pub(crate) fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(include_str!("model.json")).expect("the embedded model.json is valid"))
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

impl Model {
    fn parse(text: &str) -> Result<Model, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut operations = HashMap::new();
        for (name, op) in root["operations"].as_object().ok_or("no operations")? {
            let input = op.get("input").and_then(Value::as_str).map(str::to_string);
            let output = op.get("output").and_then(Value::as_str).map(str::to_string);
            operations.insert(name.clone(), (input, output));
        }
        let mut shapes = HashMap::new();
        for (name, s) in root["shapes"].as_object().ok_or("no shapes")? {
            let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
            let shape = match s["type"].as_str().unwrap_or_default() {
                "structure" => Shape::Structure {
                    members: s["members"]
                        .as_object()
                        .ok_or("structure without members")?
                        .iter()
                        .map(|(m, d)| {
                            (
                                m.clone(),
                                Member {
                                    shape: d["shape"].as_str().unwrap_or_default().to_string(),
                                    location: d.get("location").and_then(Value::as_str).map(str::to_string),
                                    location_name: d
                                        .get("locationName")
                                        .and_then(Value::as_str)
                                        .unwrap_or(m)
                                        .to_string(),
                                },
                            )
                        })
                        .collect(),
                    required: s["required"]
                        .as_array()
                        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default(),
                    union: s.get("union").and_then(Value::as_bool).unwrap_or(false),
                },
                "list" => Shape::List {
                    member: text("member").ok_or("list without member")?,
                    min: num(s, "min"),
                    max: num(s, "max"),
                },
                "map" => Shape::Map {
                    key: text("key").ok_or("map without key")?,
                    value: text("value").ok_or("map without value")?,
                    min: num(s, "min"),
                    max: num(s, "max"),
                },
                "string" => Shape::String {
                    min: num(s, "min"),
                    max: num(s, "max"),
                    enumeration: s
                        .get("enum")
                        .and_then(Value::as_array)
                        .map(|e| e.iter().filter_map(Value::as_str).map(str::to_string).collect()),
                    pattern: match text("pattern") {
                        Some(p) => Some((
                            Regex::new(&p).map_err(|e| format!("{name}: {e}"))?,
                            text("patternSource").unwrap_or(p),
                        )),
                        None => None,
                    },
                    not_blank: text("notBlank"),
                    not_ip_address: s.get("notIpAddress").and_then(Value::as_bool).unwrap_or(false),
                },
                "integer" | "long" => Shape::Integer {
                    min: num(s, "min"),
                    max: num(s, "max"),
                },
                "double" | "float" => Shape::Double {
                    min: num(s, "min"),
                    max: num(s, "max"),
                },
                "boolean" => Shape::Boolean,
                "timestamp" => Shape::Timestamp,
                other => return Err(format!("{name}: unsupported shape type {other}")),
            };
            shapes.insert(name.clone(), shape);
        }
        Ok(Model { operations, shapes })
    }

    /// The input shape name of `op`.
    pub fn input(&self, op: &str) -> Option<&str> {
        self.operations.get(op).and_then(|(i, _)| i.as_deref())
    }

    /// The output shape name of `op`.
    pub fn output(&self, op: &str) -> Option<&str> {
        self.operations.get(op).and_then(|(_, o)| o.as_deref())
    }

    /// The operations in the model.
    #[cfg(test)]
    pub fn operation_names(&self) -> Vec<&str> {
        self.operations.keys().map(String::as_str).collect()
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The members of structure `name` (empty for other shapes).
    pub fn members(&self, name: &str) -> &[(String, Member)] {
        match self.shapes.get(name) {
            Some(Shape::Structure { members, .. }) => members,
            _ => &[],
        }
    }

    /// `doc` restricted to the members of structure `shape` (summaries from full records).
    pub fn project(&self, shape: &str, doc: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, _) in self.members(shape) {
            if let Some(v) = doc.get(name)
                && !v.is_null()
            {
                out.insert(name.clone(), v.clone());
            }
        }
        out
    }

    /// Checks `value` against shape `name`; violations are appended to `errors`.
    pub fn validate(&self, name: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
        self.check(name, value, path, true, errors);
    }

    /// Checks a response: like [`Model::validate`] but without string length limits, which the
    /// service itself exceeds (a configured table association ARN is longer than the model's
    /// 100 characters) and the SDK does not check.
    pub fn validate_output(&self, name: &str, value: &Value, errors: &mut Vec<FieldError>) {
        self.check(name, value, "", false, errors);
    }

    fn check(&self, name: &str, value: &Value, path: &str, lengths: bool, errors: &mut Vec<FieldError>) {
        let Some(shape) = self.shapes.get(name) else {
            return;
        };
        let mut fail = |message: String| {
            errors.push(FieldError {
                name: if path.is_empty() {
                    "input".to_string()
                } else {
                    path.to_string()
                },
                message,
            })
        };
        let shown = |v: &Value| match v {
            Value::String(s) => format!("'{s}'"),
            other => other.to_string(),
        };
        match shape {
            Shape::Structure {
                members,
                required,
                union,
            } => {
                let Some(obj) = value.as_object() else {
                    return fail(not_a(path, "structure"));
                };
                let set: Vec<&String> = members
                    .iter()
                    .map(|(m, _)| m)
                    .filter(|m| obj.get(m.as_str()).is_some_and(|v| !v.is_null()))
                    .collect();
                if *union && set.len() != 1 {
                    fail(format!(
                        "Value at '{path}' failed to satisfy constraint: Member must have exactly one member set (got {})",
                        set.len()
                    ));
                }
                for r in required {
                    if obj.get(r).is_none_or(Value::is_null) {
                        errors.push(FieldError {
                            name: join(path, r),
                            message: format!(
                                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                                join(path, r)
                            ),
                        });
                    }
                }
                for (m, member) in members {
                    if let Some(v) = obj.get(m)
                        && !v.is_null()
                    {
                        self.check(&member.shape, v, &join(path, m), lengths, errors);
                    }
                }
            }
            Shape::List { member, min, max } => {
                let Some(items) = value.as_array() else {
                    return fail(not_a(path, "list"));
                };
                check_len(items.len(), *min, *max, path, &mut fail);
                for (i, item) in items.iter().enumerate() {
                    self.check(member, item, &format!("{path}.{}.member", i + 1), lengths, errors);
                }
            }
            Shape::Map {
                key,
                value: vshape,
                min,
                max,
            } => {
                let Some(obj) = value.as_object() else {
                    return fail(not_a(path, "map"));
                };
                check_len(obj.len(), *min, *max, path, &mut fail);
                for (k, v) in obj {
                    self.check(key, &Value::String(k.clone()), path, lengths, errors);
                    self.check(vshape, v, &format!("{path}.{k}"), lengths, errors);
                }
            }
            Shape::String {
                min,
                max,
                enumeration,
                pattern,
                not_blank,
                not_ip_address,
            } => {
                let Some(s) = value.as_str() else {
                    fail(format!(
                        "Value {} at '{path}' failed to satisfy constraint: Member must be a string",
                        shown(value)
                    ));
                    return;
                };
                if let Some(values) = enumeration
                    && !values.iter().any(|e| e == s)
                {
                    fail(format!(
                        "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        values.join(", ")
                    ));
                    return;
                }
                let len = s.encode_utf16().count();
                if let Some(min) = min
                    && (len as f64) < *min
                {
                    fail(format!(
                        "Value '{s}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
                    ));
                }
                if let Some(max) = max
                    && lengths
                    && (len as f64) > *max
                {
                    fail(format!(
                        "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
                    ));
                }
                let blank = match not_blank.as_deref() {
                    Some("empty-or-blank") => s.trim().is_empty(),
                    Some(_) => !s.is_empty() && s.trim().is_empty(),
                    None => false,
                };
                let ip = *not_ip_address && is_ip_like(s);
                if let Some((re, source)) = pattern
                    && (blank || ip || !re.is_match(s))
                {
                    fail(format!(
                        "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {source}"
                    ));
                }
            }
            Shape::Integer { min, max } => match value.as_i64() {
                Some(n) => check_range(n as f64, *min, *max, path, &mut fail),
                None => fail(format!(
                    "Value {} at '{path}' failed to satisfy constraint: Member must be an integer",
                    shown(value)
                )),
            },
            Shape::Double { min, max } => match value.as_f64() {
                Some(n) => check_range(n, *min, *max, path, &mut fail),
                None => fail(format!(
                    "Value {} at '{path}' failed to satisfy constraint: Member must be a number",
                    shown(value)
                )),
            },
            Shape::Boolean => {
                if !value.is_boolean() {
                    fail(format!(
                        "Value {} at '{path}' failed to satisfy constraint: Member must be a boolean",
                        shown(value)
                    ));
                }
            }
            Shape::Timestamp => {
                if !value.is_number() {
                    fail(format!(
                        "Value {} at '{path}' failed to satisfy constraint: Member must be a timestamp in epoch seconds",
                        shown(value)
                    ));
                }
            }
        }
    }
}

/// The message for a value at `path` that is not a `what` (a structure, a list, a map).
fn not_a(path: &str, what: &str) -> String {
    format!("Value at '{path}' failed to satisfy constraint: Member must be a {what}")
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn check_len(len: usize, min: Option<f64>, max: Option<f64>, path: &str, fail: &mut impl FnMut(String)) {
    if let Some(min) = min
        && (len as f64) < min
    {
        fail(format!(
            "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        ));
    }
    if let Some(max) = max
        && (len as f64) > max
    {
        fail(format!(
            "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ));
    }
}

fn check_range(n: f64, min: Option<f64>, max: Option<f64>, path: &str, fail: &mut impl FnMut(String)) {
    if let Some(min) = min
        && n < min
    {
        fail(format!(
            "Value '{n}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        ));
    }
    if let Some(max) = max
        && n > max
    {
        fail(format!(
            "Value '{n}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ));
    }
}

/// `^(\d+\.)+\d+$`: a bucket name shaped like an IP address.
fn is_ip_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(shape: &str, v: Value) -> Vec<String> {
        let mut e = Vec::new();
        model().validate(shape, &v, "", &mut e);
        e.into_iter().map(|f| f.name).collect()
    }

    #[test]
    fn every_pattern_compiles_and_operations_have_shapes() {
        let m = model();
        assert_eq!(m.operation_names().len(), super::super::router::ROUTES.len());
        for op in m.operation_names() {
            assert!(m.input(op).is_some_and(|s| m.shape(s).is_some()), "{op}");
        }
    }

    #[test]
    fn strings_follow_the_model() {
        assert!(errors("TableAlias", json!("orders")).is_empty());
        assert!(errors("TableAlias", json!("my table-2")).is_empty());
        assert_eq!(errors("TableAlias", json!("-x")).len(), 1);
        assert_eq!(errors("TableAlias", json!("x-")).len(), 1);
        assert_eq!(errors("TableAlias", json!("")).len(), 1);
        assert!(errors("S3LocationBucketString", json!("crpack-sandbox-artifacts")).is_empty());
        assert_eq!(errors("S3LocationBucketString", json!("192.168.1.1")).len(), 1);
        assert_eq!(errors("S3LocationBucketString", json!("Upper")).len(), 1);
        assert!(errors("S3LocationKeyString", json!("a/b(1)+c,d!.py")).is_empty());
        assert_eq!(errors("S3LocationKeyString", json!("a b.py")).len(), 1);
        assert_eq!(errors("S3LocationKeyString", json!("a=b.py")).len(), 1);
        assert!(errors("DisplayName", json!("Author Inc")).is_empty());
        assert_eq!(errors("DisplayName", json!("   ")).len(), 1);
        assert!(errors("RoleArn", json!("arn:aws:iam::111111111111:role/service-role/cr")).is_empty());
        assert_eq!(
            errors(
                "RoleArn",
                json!("arn:aws-cn:iam::111111111111:role/service-role/cr")
            )
            .len(),
            1
        );
        assert!(errors("AnalysisTemplateArnOrQueryWildcard", json!("ANY_JOB")).is_empty());
        assert_eq!(
            errors("AnalysisTemplateArnOrQueryWildcard", json!("ANY_THING")).len(),
            1
        );
        assert!(errors("AccountId", json!("111111111111")).is_empty());
        assert_eq!(errors("AccountId", json!("11111111111a")).len(), 1);
    }

    #[test]
    fn structures_lists_and_unions_report_member_paths() {
        let input = json!({
            "membershipIdentifier": "00000000-0000-0000-0000-000000000000",
            "name": "bad name-",
            "format": "PYSPARK_1_0",
            "source": {"artifacts": {
                "entryPoint": {"location": {"bucket": "b", "key": "k.py"}},
                "additionalArtifacts": [
                    {"location": {"bucket": "bkt", "key": "a"}},
                    {"location": {"bucket": "bkt", "key": "b"}}
                ],
                "roleArn": "arn:aws:iam::1:role/x"
            }},
            "analysisParameters": [{"name": "bad-name", "type": "STRING"}]
        });
        let names = errors("CreateAnalysisTemplateInput", input);
        assert_eq!(
            names,
            [
                "name",
                "source.artifacts.entryPoint.location.bucket",
                "source.artifacts.additionalArtifacts",
                "source.artifacts.roleArn",
                "analysisParameters.1.member.name"
            ]
        );
        assert_eq!(errors("AnalysisSource", json!({})), ["input"]);
        assert_eq!(
            errors("AnalysisSource", json!({"text": "a", "artifacts": {}})).len(),
            3
        );
    }
}
