//! The service's own patterns and limits (from the Clean Rooms service model, anchored), checked
//! on the client before anything is sent. The service model stores them unanchored; every
//! pattern here matches the whole value.

use std::sync::LazyLock;

use regex::Regex;

/// Limits from the service model and the PySpark documentation.
pub mod limits {
    /// `TableAlias` (template name, referenced table names): at most 128 characters.
    pub const NAME_MAX: usize = 128;
    /// `ResourceDescription`: at most 255 characters.
    pub const DESCRIPTION_MAX: usize = 255;
    /// `AnalysisParameterList`: at most 50 parameters.
    pub const PARAMETERS_MAX: usize = 50;
    /// `ParameterName`: 1..=100 characters.
    pub const PARAMETER_NAME_MAX: usize = 100;
    /// `ParameterValue`: a default value of at most 1000 characters.
    pub const PARAMETER_VALUE_MAX: usize = 1000;
    /// `TagMap`: at most 200 tags; keys 1..=128, values 0..=256 characters.
    pub const TAGS_MAX: usize = 200;
    pub const TAG_KEY_MAX: usize = 128;
    pub const TAG_VALUE_MAX: usize = 256;
    /// `RoleArn`: 32..=512 characters.
    pub const ROLE_ARN_MIN: usize = 32;
    pub const ROLE_ARN_MAX: usize = 512;
    /// `S3LocationKeyString`: 1..=1024 characters.
    pub const S3_KEY_MAX: usize = 1024;
    /// All artifacts of one template together: 1 GB.
    pub const TOTAL_ARTIFACT_BYTES: u64 = 1_000_000_000;
    /// `AnalysisTemplateArtifactList`: at most one additional artifact.
    pub const ADDITIONAL_ARTIFACTS_MAX: usize = 1;
}

macro_rules! anchored {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(concat!("^(?:", $pattern, ")$")).expect("valid service pattern"));
    };
}

anchored!(TABLE_ALIAS, r"[a-zA-Z0-9_](([a-zA-Z0-9_ ]+-)*([a-zA-Z0-9_ ]+))?");
anchored!(PARAMETER_NAME, r"[0-9a-zA-Z_]+");
anchored!(ROLE_ARN, r"arn:aws:iam::[\w]+:role/[\w+=./@-]+");
anchored!(S3_KEY, r"[a-zA-Z0-9!_.*'()+,\-/]+");
anchored!(
    MEMBERSHIP_ID,
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
);
anchored!(
    TEMPLATE_ARN,
    r"arn:aws[-a-z]*:cleanrooms:[\w]{2}-[\w]{4,9}-[\d]:[\d]{12}:membership/[\d\w-]+/analysistemplate/[\d\w-]+"
);

/// Checks a template name (`TableAlias`).
pub fn template_name(name: &str) -> Result<(), String> {
    table_alias(name, "template name")
}

/// Checks a referenced table name (`TableAlias`).
pub fn table_name(name: &str) -> Result<(), String> {
    table_alias(name, "table name")
}

fn table_alias(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if name.chars().count() > limits::NAME_MAX {
        return Err(format!(
            "the {what} {name:?} is longer than {} characters",
            limits::NAME_MAX
        ));
    }
    if !TABLE_ALIAS.is_match(name) {
        return Err(format!(
            "the {what} {name:?} does not match the service's pattern: letters, digits, `_` and spaces, \
             single `-` between them, starting with a letter, digit or `_` and not ending with `-`"
        ));
    }
    Ok(())
}

/// Checks a description (`ResourceDescription`): printable Unicode plus tab, CR and LF.
pub fn description(text: &str) -> Result<(), String> {
    if text.chars().count() > limits::DESCRIPTION_MAX {
        return Err(format!(
            "the description is {} characters long; the service allows at most {}",
            text.chars().count(),
            limits::DESCRIPTION_MAX
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| (*c < ' ' && !matches!(c, '\t' | '\r' | '\n')) || *c == '\u{7f}')
    {
        return Err(format!("the description contains the control character {c:?}"));
    }
    Ok(())
}

/// Checks a parameter name (`ParameterName`, plus the console's rule: starts with a letter or `_`).
pub fn parameter_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > limits::PARAMETER_NAME_MAX {
        return Err(format!(
            "the parameter name {name:?} must be 1 to {} characters",
            limits::PARAMETER_NAME_MAX
        ));
    }
    if !PARAMETER_NAME.is_match(name) || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "the parameter name {name:?} may only use letters, digits and `_`, and must start with a letter or `_`"
        ));
    }
    Ok(())
}

/// Checks a parameter's default value (`ParameterValue`).
pub fn parameter_value(name: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > limits::PARAMETER_VALUE_MAX {
        return Err(format!(
            "the default of parameter {name:?} is longer than {} characters",
            limits::PARAMETER_VALUE_MAX
        ));
    }
    Ok(())
}

/// Checks a tag key and value.
pub fn tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > limits::TAG_KEY_MAX {
        return Err(format!(
            "the tag key {key:?} must be 1 to {} characters",
            limits::TAG_KEY_MAX
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!("the tag key {key:?} uses the reserved prefix `aws:`"));
    }
    if value.chars().count() > limits::TAG_VALUE_MAX {
        return Err(format!(
            "the value of tag {key:?} is longer than {} characters",
            limits::TAG_VALUE_MAX
        ));
    }
    Ok(())
}

/// Checks an IAM role ARN (`RoleArn`): the `aws` partition only.
pub fn role_arn(arn: &str) -> Result<(), String> {
    let len = arn.chars().count();
    if !(limits::ROLE_ARN_MIN..=limits::ROLE_ARN_MAX).contains(&len) || !ROLE_ARN.is_match(arn) {
        return Err(format!(
            "the role ARN {arn:?} is not of the form arn:aws:iam::<account>:role/<path/name> \
             ({}..={} characters, the `aws` partition)",
            limits::ROLE_ARN_MIN,
            limits::ROLE_ARN_MAX
        ));
    }
    Ok(())
}

/// Checks a membership id (`MembershipIdentifier`: a lowercase UUID).
pub fn membership_id(id: &str) -> Result<(), String> {
    if !MEMBERSHIP_ID.is_match(id) {
        return Err(format!(
            "the membership id {id:?} is not a lowercase UUID (36 characters)"
        ));
    }
    Ok(())
}

/// Checks an AWS account id (`AccountId`: 12 digits).
pub fn account_id(id: &str) -> Result<(), String> {
    if !(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{id:?} is not an AWS account id (12 digits)"));
    }
    Ok(())
}

/// Checks an analysis template ARN (`AnalysisTemplateArn`).
pub fn template_arn(arn: &str) -> Result<(), String> {
    if arn.len() > 200 || !TEMPLATE_ARN.is_match(arn) {
        return Err(format!(
            "{arn:?} is not an analysis template ARN \
             (arn:aws:cleanrooms:<region>:<account>:membership/<id>/analysistemplate/<id>)"
        ));
    }
    Ok(())
}

/// Checks an S3 object key against the Clean Rooms pattern (`S3LocationKeyString`), which is
/// stricter than S3: only `A-Z a-z 0-9 ! _ . * ' ( ) + , - /`.
pub fn s3_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > limits::S3_KEY_MAX {
        return Err(format!(
            "the S3 key {key:?} must be 1 to {} characters",
            limits::S3_KEY_MAX
        ));
    }
    if let Some(c) = key.chars().find(|c| !is_s3_key_char(*c)) {
        return Err(format!(
            "{key:?} contains {c:?}, which Clean Rooms does not accept in an S3 key \
             (allowed: A-Z a-z 0-9 ! _ . * ' ( ) + , - /)"
        ));
    }
    debug_assert!(S3_KEY.is_match(key));
    Ok(())
}

/// Whether `c` may appear in a Clean Rooms S3 key.
pub fn is_s3_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!_.*'()+,-/".contains(c)
}

/// Checks a bucket name (`S3LocationBucketString`): 3..=63 characters, DNS-style lowercase
/// labels, not shaped like an IP address.
pub fn bucket(name: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "the bucket name {name:?} is not valid: 3 to 63 characters, lowercase letters, digits, \
             `-` and `.`, labels starting and ending with a letter or digit, not an IP address"
        ))
    };
    if !(3..=63).contains(&name.len()) {
        return bad();
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return bad();
    }
    if name.split('.').count() > 1 && name.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return bad();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(account_id("111111111111").is_ok());
        for bad in [
            "",
            "11111111111",
            "1111111111111",
            "11111111111a",
            "１１１１１１１１１１１１",
        ] {
            let e = account_id(bad).unwrap_err();
            assert!(e.contains("12 digits"), "{e}");
        }
    }

    #[test]
    fn names_follow_table_alias() {
        for ok in [
            "a",
            "audience-overlap",
            "Audience overlap 2",
            "_x",
            "ab-cd-ef",
            "9lives",
        ] {
            template_name(ok).unwrap();
        }
        for bad in ["", "-a", "a-", "a-b", "a--b", "a.b", "émile", &"x".repeat(129)] {
            assert!(template_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn parameter_names() {
        parameter_name("min_count").unwrap();
        parameter_name("_x9").unwrap();
        for bad in ["", "9a", "a-b", "a b", &"a".repeat(101)] {
            assert!(parameter_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_arns() {
        role_arn("arn:aws:iam::111122223333:role/service-role/cleanrooms-pyspark-read").unwrap();
        assert!(role_arn("arn:aws-cn:iam::111122223333:role/service-role/x-y-z-long").is_err());
        assert!(role_arn("arn:aws:iam::1:role/a").is_err(), "too short");
        assert!(role_arn("arn:aws:iam::111122223333:user/someone-with-a-name").is_err());
    }

    #[test]
    fn s3_keys() {
        s3_key("templates/a/0f/entrypoint.py").unwrap();
        s3_key("a!_.*'()+,-/b").unwrap();
        for bad in ["", "a b", "a=b", "a:b", "a@b", "a~b", "a&b", "é"] {
            assert!(s3_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn buckets() {
        bucket("my-artifacts").unwrap();
        bucket("a.b-c.d1").unwrap();
        for bad in [
            "ab",
            "My-bucket",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            &"a".repeat(64),
        ] {
            assert!(bucket(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn membership_ids_and_template_arns() {
        membership_id("3c6b0ba0-0000-4000-8000-000000000001").unwrap();
        assert!(membership_id("3C6B0BA0-0000-4000-8000-000000000001").is_err());
        template_arn(
            "arn:aws:cleanrooms:us-east-1:111111111111:membership/3c6b0ba0-0000-4000-8000-000000000001/analysistemplate/abc-1",
        )
        .unwrap();
        assert!(template_arn("arn:aws:cleanrooms:us-east-1:1:membership/x/analysistemplate/y").is_err());
    }

    #[test]
    fn descriptions() {
        description("Overlap of customers\nline two\ttab").unwrap();
        assert!(description("bell\u{7}").is_err());
        assert!(description(&"x".repeat(256)).is_err());
    }
}
