//! A generic REST router over a static route table (method, URI template, operation, success
//! code), as the service model declares them. `tests/it/sandbox_cleanrooms.rs` checks the table
//! against `fixtures/cleanrooms-routes.json`, which `fixtures/derive-routes.py` derived from the
//! botocore model.

use std::collections::HashMap;

/// One operation's HTTP binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The operation name, as in the model (`CreateAnalysisTemplate`).
    pub name: &'static str,
    pub method: &'static str,
    /// The URI template: literal segments and `{label}` / `{label+}` segments.
    pub uri: &'static str,
    /// The status code of a successful response.
    pub code: u16,
}

macro_rules! routes {
    ($($name:ident $method:ident $uri:literal $code:literal;)*) => {
        /// Every operation the endpoint serves.
        pub const ROUTES: &[Route] = &[
            $(Route { name: stringify!($name), method: stringify!($method), uri: $uri, code: $code },)*
        ];
    };
}

routes! {
    CreateCollaboration POST "/collaborations" 200;
    GetCollaboration GET "/collaborations/{collaborationIdentifier}" 200;
    ListCollaborations GET "/collaborations" 200;
    ListMembers GET "/collaborations/{collaborationIdentifier}/members" 200;
    CreateMembership POST "/memberships" 200;
    GetMembership GET "/memberships/{membershipIdentifier}" 200;
    ListMemberships GET "/memberships" 200;
    UpdateMembership PATCH "/memberships/{membershipIdentifier}" 200;
    CreateConfiguredTable POST "/configuredTables" 200;
    GetConfiguredTable GET "/configuredTables/{configuredTableIdentifier}" 200;
    ListConfiguredTables GET "/configuredTables" 200;
    UpdateConfiguredTable PATCH "/configuredTables/{configuredTableIdentifier}" 200;
    DeleteConfiguredTable DELETE "/configuredTables/{configuredTableIdentifier}" 204;
    CreateConfiguredTableAnalysisRule POST "/configuredTables/{configuredTableIdentifier}/analysisRule" 200;
    GetConfiguredTableAnalysisRule GET "/configuredTables/{configuredTableIdentifier}/analysisRule/{analysisRuleType}" 200;
    UpdateConfiguredTableAnalysisRule PATCH "/configuredTables/{configuredTableIdentifier}/analysisRule/{analysisRuleType}" 200;
    DeleteConfiguredTableAnalysisRule DELETE "/configuredTables/{configuredTableIdentifier}/analysisRule/{analysisRuleType}" 204;
    CreateConfiguredTableAssociation POST "/memberships/{membershipIdentifier}/configuredTableAssociations" 200;
    GetConfiguredTableAssociation GET "/memberships/{membershipIdentifier}/configuredTableAssociations/{configuredTableAssociationIdentifier}" 200;
    ListConfiguredTableAssociations GET "/memberships/{membershipIdentifier}/configuredTableAssociations" 200;
    DeleteConfiguredTableAssociation DELETE "/memberships/{membershipIdentifier}/configuredTableAssociations/{configuredTableAssociationIdentifier}" 204;
    GetSchema GET "/collaborations/{collaborationIdentifier}/schemas/{name}" 200;
    ListSchemas GET "/collaborations/{collaborationIdentifier}/schemas" 200;
    CreateAnalysisTemplate POST "/memberships/{membershipIdentifier}/analysistemplates" 200;
    GetAnalysisTemplate GET "/memberships/{membershipIdentifier}/analysistemplates/{analysisTemplateIdentifier}" 200;
    ListAnalysisTemplates GET "/memberships/{membershipIdentifier}/analysistemplates" 200;
    UpdateAnalysisTemplate PATCH "/memberships/{membershipIdentifier}/analysistemplates/{analysisTemplateIdentifier}" 200;
    DeleteAnalysisTemplate DELETE "/memberships/{membershipIdentifier}/analysistemplates/{analysisTemplateIdentifier}" 204;
    GetCollaborationAnalysisTemplate GET "/collaborations/{collaborationIdentifier}/analysistemplates/{analysisTemplateArn}" 200;
    BatchGetCollaborationAnalysisTemplate POST "/collaborations/{collaborationIdentifier}/batch-analysistemplates" 200;
    ListCollaborationAnalysisTemplates GET "/collaborations/{collaborationIdentifier}/analysistemplates" 200;
    StartProtectedJob POST "/memberships/{membershipIdentifier}/protectedJobs" 200;
    GetProtectedJob GET "/memberships/{membershipIdentifier}/protectedJobs/{protectedJobIdentifier}" 200;
    ListProtectedJobs GET "/memberships/{membershipIdentifier}/protectedJobs" 200;
    UpdateProtectedJob PATCH "/memberships/{membershipIdentifier}/protectedJobs/{protectedJobIdentifier}" 200;
}

/// A matched request: the route and its decoded URI labels.
#[derive(Debug)]
pub struct Matched {
    pub route: &'static Route,
    pub labels: HashMap<String, String>,
}

/// Why no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum NoMatch {
    /// No template matches the path.
    Path,
    /// A template matches the path, but not with this method.
    Method,
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Matches `method` and the raw (still percent-encoded) `path` against [`ROUTES`]. Labels are
/// matched on encoded segments (so `%2F` inside an ARN label stays inside its segment) and
/// decoded afterwards. When several templates match, the one with most literal segments wins.
pub fn route(method: &str, path: &str) -> Result<Matched, NoMatch> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut best: Option<(usize, &'static Route, HashMap<String, String>)> = None;
    let mut path_matched = false;
    for route in ROUTES {
        let Some((literals, labels)) = match_template(route.uri, &segments) else {
            continue;
        };
        path_matched = true;
        if route.method != method {
            continue;
        }
        if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
            best = Some((literals, route, labels));
        }
    }
    match best {
        Some((_, route, labels)) => Ok(Matched { route, labels }),
        None if path_matched => Err(NoMatch::Method),
        None => Err(NoMatch::Path),
    }
}

fn match_template(template: &str, segments: &[&str]) -> Option<(usize, HashMap<String, String>)> {
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    let mut labels = HashMap::new();
    let mut literals = 0;
    for (i, part) in parts.iter().enumerate() {
        if let Some(label) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                let rest = segments.get(i..).filter(|r| !r.is_empty())?;
                labels.insert(greedy.to_string(), decode(&rest.join("/")));
                return Some((literals, labels));
            }
            let segment = segments.get(i).filter(|s| !s.is_empty())?;
            labels.insert(label.to_string(), decode(segment));
        } else {
            if segments.get(i) != Some(part) {
                return None;
            }
            literals += 1;
        }
    }
    (segments.len() == parts.len()).then_some((literals, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_decoded_after_matching() {
        let m = route(
            "GET",
            "/collaborations/c1/analysistemplates/arn%3Aaws%3Acleanrooms%3Aus-east-1%3A111111111111%3Amembership%2Fm%2Fanalysistemplate%2Ft",
        )
        .unwrap();
        assert_eq!(m.route.name, "GetCollaborationAnalysisTemplate");
        assert_eq!(m.labels["collaborationIdentifier"], "c1");
        assert_eq!(
            m.labels["analysisTemplateArn"],
            "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t"
        );
    }

    #[test]
    fn literal_segments_win_and_methods_matter() {
        assert_eq!(
            route("POST", "/collaborations/c1/batch-analysistemplates")
                .unwrap()
                .route
                .name,
            "BatchGetCollaborationAnalysisTemplate"
        );
        assert_eq!(
            route("GET", "/collaborations").unwrap().route.name,
            "ListCollaborations"
        );
        assert_eq!(
            route("POST", "/collaborations/").unwrap().route.name,
            "CreateCollaboration"
        );
        assert_eq!(
            route("GET", "/collaborations/c/schemas/my%20table")
                .unwrap()
                .labels["name"],
            "my table"
        );
        assert_eq!(route("PUT", "/collaborations").unwrap_err(), NoMatch::Method);
        assert_eq!(route("GET", "/nothing/here").unwrap_err(), NoMatch::Path);
        assert_eq!(
            route("GET", "/collaborations//members").unwrap_err(),
            NoMatch::Path
        );
    }
}
