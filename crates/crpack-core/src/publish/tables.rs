//! Which of a template's referenced tables are not associated with the collaboration yet.
//!
//! Clean Rooms lets an author create a template that names tables to be associated later; a job
//! on it cannot read such a table until its owner associates it. `publish` warns about them.
//!
//! The tables of a collaboration are its schemas (`ListSchemas`): one per configured table
//! association, whichever member made it. `ListConfiguredTableAssociations` would not do: it
//! lists only the associations of the caller's own membership, and the tables an author's
//! template reads usually belong to the data providers.

use crate::aws::{self, Aws};
use crate::error::Result;

/// The names in `tables` that no member has associated with the collaboration of
/// `membership_id` (the caller's membership), in the order given, each once.
pub async fn unassociated_tables(aws: &Aws, membership_id: &str, tables: &[String]) -> Result<Vec<String>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let membership = aws::membership(aws, membership_id).await?;
    let collaboration_id = membership.collaboration_id();
    let associated = schema_names(aws, collaboration_id).await?;
    Ok(missing(tables, &associated))
}

/// The names of every schema of the collaboration, all pages.
async fn schema_names(aws: &Aws, collaboration_id: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let request = aws.cleanrooms.list_schemas();
    aws::each_page!(
        request.collaboration_identifier(collaboration_id),
        &format!("ListSchemas {collaboration_id}"),
        |page| names.extend(page.schema_summaries().iter().map(|s| s.name().to_string()))
    );
    Ok(names)
}

/// `tables` minus `associated`, in order, without duplicates.
fn missing(tables: &[String], associated: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tables {
        if !associated.contains(t) && !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::missing;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keeps_the_order_given_and_reports_each_name_once() {
        let associated = names(&["orders", "customers"]);
        assert_eq!(
            missing(&names(&["visits", "orders", "payments", "visits"]), &associated),
            names(&["visits", "payments"])
        );
        assert!(missing(&names(&["orders"]), &associated).is_empty());
        assert!(missing(&[], &associated).is_empty());
        // Association names are case-sensitive, like the service's.
        assert_eq!(missing(&names(&["Orders"]), &associated), names(&["Orders"]));
    }
}
