//! Sharing the published bytes: the author lets reviewers' accounts read the artifacts bucket,
//! so `verify --from-s3` can download exactly the versions the template pins.

use crate::aws::{self, Aws};
use crate::error::Result;

/// Grants `account` read access to `bucket` with a bucket policy (what an author does for
/// reviewers who verify `--from-s3`).
pub async fn grant_read(aws: &Aws, bucket: &str, account: &str) -> Result<()> {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReviewersRead",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
            "Action": [
                "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes",
                "s3:GetObjectVersionAttributes", "s3:ListBucket", "s3:ListBucketVersions"
            ],
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
        }]
    });
    aws.s3
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| aws::describe(&format!("PutBucketPolicy {bucket}"), &e))?;
    Ok(())
}
