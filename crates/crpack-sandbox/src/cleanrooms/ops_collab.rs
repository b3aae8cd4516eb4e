//! Collaborations, members and memberships.
//!
//! Visibility: an account listed in a collaboration's members (invited or active) sees it with
//! `GetCollaboration`/`ListCollaborations`; collaboration-level reads (members, schemas,
//! collaboration templates) need an active membership; a membership is visible only to the
//! account that created it. Anyone else gets `AccessDeniedException`.

use serde_json::{Value, json};

use super::error::{self, ApiError};
use super::identity_account as account;
use super::state::{CollaborationRec, Doc, MemberRecord, MembershipRec, State, s};
use super::{
    Found, Inner, arn, copy_members, found_allowed, get_doc, input_tags, list_page, new_id, now, opt_str,
    page_response, projected,
};
use crate::identity::Identity;

const CAN_QUERY: &str = "CAN_QUERY";
const CAN_RUN_JOB: &str = "CAN_RUN_JOB";
const CAN_RECEIVE_RESULTS: &str = "CAN_RECEIVE_RESULTS";

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn responsible(payment: Option<&Value>, kind: &str) -> bool {
    payment
        .and_then(|p| p.get(kind))
        .and_then(|k| k.get("isResponsible"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The caller's entry in the collaboration's member list.
pub(crate) fn member_entry<'a>(collab: &'a CollaborationRec, account: &str) -> Option<&'a Doc> {
    collab.members.iter().find(|m| s(m, "accountId") == account)
}

/// The collaboration `id` as the caller may read it at collaboration level: it must exist
/// (`ResourceNotFoundException`) and the caller must hold an active membership in it
/// (`AccessDeniedException`).
pub(crate) fn readable_collaboration<'a>(
    state: &'a State,
    caller: &Identity,
    id: &str,
) -> Result<&'a CollaborationRec, ApiError> {
    let me = account(caller);
    let denied = || format!("account {me} has no active membership in collaboration {id}");
    found_allowed(
        state.collaboration(id),
        (error::COLLABORATION, id),
        |_| state.membership_of(me, id).is_some(),
        denied,
    )
}

/// The membership `id`, which must exist (`ResourceNotFoundException`) and belong to the caller
/// (`AccessDeniedException`).
pub(crate) fn own_membership<'a>(state: &'a State, caller: &Identity, id: &str) -> Found<'a, MembershipRec> {
    let me = account(caller);
    let denied = || format!("membership {id} does not belong to account {me}");
    found_allowed(
        state.membership(id),
        (error::MEMBERSHIP, id),
        |m| m.account_id == me,
        denied,
    )
}

/// Runs `f` with the request's `collaborationIdentifier` once the caller may read that
/// collaboration (see [`readable_collaboration`]).
pub(crate) fn read_in_collaboration<R>(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
    f: impl FnOnce(&State, &str) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let collab_id = s(input, "collaborationIdentifier");
    inner.read(|state| {
        readable_collaboration(state, caller, collab_id)?;
        f(state, collab_id)
    })
}

/// Runs `f` with the request's `membershipIdentifier` once that membership is found to be the
/// caller's (see [`own_membership`]).
pub(crate) fn read_in_membership<R>(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
    f: impl FnOnce(&State, &str) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let membership_id = s(input, "membershipIdentifier");
    inner.read(|state| {
        own_membership(state, caller, membership_id)?;
        f(state, membership_id)
    })
}

/// `{ key: doc }`: the document of the record `find(state, membership, id)` looks up in the
/// request's membership (the caller's), `id` being the request's member `id_member`.
pub(crate) fn get_in_membership<R: MemberRecord>(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
    (key, id_member): (&str, &str),
    find: impl for<'a> FnOnce(&'a State, &str, &str) -> Found<'a, R>,
) -> Result<Value, ApiError> {
    read_in_membership(inner, caller, input, |state, membership_id| {
        Ok(json!({ key: find(state, membership_id, s(input, id_member))?.doc() }))
    })
}

/// [`read_in_membership`] for a change of the state.
pub(crate) fn write_in_membership<R>(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
    f: impl FnOnce(&mut State, &str) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let membership_id = s(input, "membershipIdentifier");
    inner.write(|state| {
        own_membership(state, caller, membership_id)?;
        f(state, membership_id)
    })
}

/// A list operation `(operation, member, shape)` over the records `records` of the request's
/// membership (the caller's), each projected onto the model's shape `shape`.
pub(crate) fn list_membership_records<R: MemberRecord>(
    inner: &Inner,
    caller: &Identity,
    input: &Doc,
    (op, key, shape): (&str, &str, &str),
    records: fn(&State) -> &[R],
) -> Result<Value, ApiError> {
    let items = read_in_membership(inner, caller, input, |state, membership_id| {
        Ok(records(state)
            .iter()
            .filter(|r| s(r.doc(), "membershipId") == membership_id)
            .map(|r| projected(shape, r.doc()))
            .collect())
    })?;
    page_response(op, key, items, input)
}

/// The collaboration as `caller` sees it (`Collaboration` shape).
fn collaboration_view(state: &State, collab: &CollaborationRec, caller: &Identity) -> Doc {
    let mut doc = collab.doc.clone();
    if let Some(member) = member_entry(collab, account(caller)) {
        doc.insert("memberStatus".into(), member["status"].clone());
    }
    if let Some(m) = state.membership_of(account(caller), s(&collab.doc, "id")) {
        doc.insert("membershipId".into(), json!(s(&m.doc, "id")));
        doc.insert("membershipArn".into(), json!(s(&m.doc, "arn")));
    }
    doc
}

pub(crate) fn create_collaboration(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let me = account(caller);
    let engine = opt_str(input, "analyticsEngine");
    let creator_abilities = strings(input.get("creatorMemberAbilities"));
    let members_in: Vec<Doc> = input
        .get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.as_object().cloned()).collect())
        .unwrap_or_default();
    let mut seen = vec![me.to_string()];
    for (i, m) in members_in.iter().enumerate() {
        let id = s(m, "accountId");
        if seen.iter().any(|a| a == id) {
            return Err(ApiError::field(
                &format!("members.{}.member.accountId", i + 1),
                format!(
                    "account {id} is listed twice (the creator is a member already and must not be in members)"
                ),
            ));
        }
        seen.push(id.to_string());
    }
    let everyone_abilities = members_in
        .iter()
        .flat_map(|m| strings(m.get("memberAbilities")))
        .chain(creator_abilities.iter().cloned())
        .collect::<Vec<_>>();
    if engine != Some("SPARK") && everyone_abilities.iter().any(|a| a == CAN_RUN_JOB) {
        return Err(ApiError::invalid(
            "the CAN_RUN_JOB member ability needs a collaboration whose analyticsEngine is SPARK",
        ));
    }
    let time = now();
    let id = new_id();
    let mut doc = Doc::new();
    doc.insert("id".into(), json!(id));
    doc.insert("arn".into(), json!(arn(me, &format!("collaboration/{id}"))));
    copy_members(input, &mut doc, &["name", "description"]);
    doc.insert("creatorAccountId".into(), json!(me));
    copy_members(input, &mut doc, &["creatorDisplayName"]);
    doc.insert("createTime".into(), time.clone());
    doc.insert("updateTime".into(), time.clone());
    copy_members(
        input,
        &mut doc,
        &[
            "dataEncryptionMetadata",
            "queryLogStatus",
            "jobLogStatus",
            "analyticsEngine",
        ],
    );
    if let Some(v) = input.get("autoApprovedChangeRequestTypes") {
        doc.insert("autoApprovedChangeTypes".into(), v.clone());
    }
    copy_members(input, &mut doc, &["allowedResultRegions", "isMetricsEnabled"]);

    let member_doc =
        |account_id: &str, display: &Value, abilities: Vec<String>, ml: Option<&Value>, pay: Value| {
            let mut m = Doc::new();
            m.insert("accountId".into(), json!(account_id));
            m.insert("status".into(), json!("INVITED"));
            m.insert("displayName".into(), display.clone());
            m.insert("abilities".into(), json!(abilities));
            if let Some(ml) = ml {
                m.insert("mlAbilities".into(), ml.clone());
            }
            m.insert("createTime".into(), time.clone());
            m.insert("updateTime".into(), time.clone());
            m.insert("paymentConfiguration".into(), pay);
            m
        };
    let default_payment = |abilities: &[String]| json!({ "queryCompute": { "isResponsible": abilities.iter().any(|a| a == CAN_QUERY) } });
    let creator_payment = input
        .get("creatorPaymentConfiguration")
        .cloned()
        .unwrap_or_else(|| default_payment(&creator_abilities));
    let mut members = vec![member_doc(
        me,
        &input["creatorDisplayName"],
        creator_abilities.clone(),
        input.get("creatorMLMemberAbilities"),
        creator_payment,
    )];
    for m in &members_in {
        let abilities = strings(m.get("memberAbilities"));
        let pay = m
            .get("paymentConfiguration")
            .cloned()
            .unwrap_or_else(|| default_payment(&abilities));
        members.push(member_doc(
            s(m, "accountId"),
            &m["displayName"],
            abilities,
            m.get("mlMemberAbilities"),
            pay,
        ));
    }
    let rec = CollaborationRec {
        doc,
        members,
        tags: input_tags(input),
    };
    inner.write(|state| {
        let view = collaboration_view(state, &rec, caller);
        state.collaborations.push(rec);
        Ok(json!({ "collaboration": view }))
    })
}

pub(crate) fn get_collaboration(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "collaborationIdentifier");
    inner.read(|state| {
        // The model declares no ResourceNotFoundException here: unknown and foreign
        // collaborations look the same.
        let collab = state
            .collaboration(id)
            .filter(|c| member_entry(c, account(caller)).is_some())
            .ok_or_else(|| {
                ApiError::denied(format!(
                    "account {} is not a member of collaboration {id}",
                    account(caller)
                ))
            })?;
        Ok(json!({ "collaboration": collaboration_view(state, collab, caller) }))
    })
}

pub(crate) fn list_collaborations(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let filter = opt_str(input, "memberStatus");
    list_page(inner, input, "ListCollaborations", "collaborationList", |state| {
        Ok(state
            .collaborations
            .iter()
            .filter_map(|c| {
                let member = member_entry(c, account(caller))?;
                if filter.is_some_and(|f| s(member, "status") != f) {
                    return None;
                }
                let view = collaboration_view(state, c, caller);
                Some(projected("CollaborationSummary", &view))
            })
            .collect())
    })
}

pub(crate) fn list_members(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "collaborationIdentifier");
    list_page(inner, input, "ListMembers", "memberSummaries", |state| {
        let collab = readable_collaboration(state, caller, id)?;
        Ok(collab
            .members
            .iter()
            .map(|m| projected("MemberSummary", m))
            .collect())
    })
}

pub(crate) fn create_membership(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let me = account(caller);
    let collab_id = s(input, "collaborationIdentifier");
    inner.write(|state| {
        let collab = state
            .collaboration(collab_id)
            .ok_or_else(|| ApiError::not_found(error::COLLABORATION, collab_id))?;
        let member = member_entry(collab, me).ok_or_else(|| {
            ApiError::denied(format!("account {me} is not invited to collaboration {collab_id}"))
        })?;
        if let Some(existing) = state.membership_of(me, collab_id) {
            return Err(ApiError::conflict(
                "ALREADY_EXISTS",
                Some(error::MEMBERSHIP),
                s(&existing.doc, "id"),
                format!(
                    "account {me} already has membership {} in collaboration {collab_id}",
                    s(&existing.doc, "id")
                ),
            ));
        }
        let abilities = strings(member.get("abilities"));
        let assigned = member.get("paymentConfiguration");
        for (kind, ability) in [("queryCompute", CAN_QUERY), ("jobCompute", CAN_RUN_JOB)] {
            if !responsible(assigned, kind) {
                continue;
            }
            match input.get("paymentConfiguration") {
                None if !abilities.iter().any(|a| a == ability) => {
                    return Err(ApiError::field(
                        "paymentConfiguration",
                        format!(
                            "the collaboration creator made account {me} responsible for {kind} costs: paymentConfiguration is required to accept it"
                        ),
                    ));
                }
                Some(given) if !responsible(Some(given), kind) => {
                    return Err(ApiError::field(
                        &format!("paymentConfiguration.{kind}.isResponsible"),
                        format!(
                            "the collaboration creator made account {me} responsible for {kind} costs: the membership must accept it"
                        ),
                    ));
                }
                _ => {}
            }
        }
        let receives = abilities.iter().any(|a| a == CAN_RECEIVE_RESULTS);
        for key in ["defaultResultConfiguration", "defaultJobResultConfiguration"] {
            if input.contains_key(key) && !receives {
                return Err(ApiError::invalid(format!(
                    "{key} can only be set by a member with the CAN_RECEIVE_RESULTS ability"
                )));
            }
        }
        let time = now();
        let id = new_id();
        let membership_arn = arn(me, &format!("membership/{id}"));
        let mut doc = Doc::new();
        doc.insert("id".into(), json!(id));
        doc.insert("arn".into(), json!(membership_arn));
        doc.insert("collaborationArn".into(), collab.doc["arn"].clone());
        doc.insert("collaborationId".into(), json!(collab_id));
        doc.insert("collaborationCreatorAccountId".into(), collab.doc["creatorAccountId"].clone());
        doc.insert(
            "collaborationCreatorDisplayName".into(),
            collab.doc["creatorDisplayName"].clone(),
        );
        doc.insert("collaborationName".into(), collab.doc["name"].clone());
        doc.insert("createTime".into(), time.clone());
        doc.insert("updateTime".into(), time.clone());
        doc.insert("status".into(), json!("ACTIVE"));
        doc.insert("memberAbilities".into(), json!(abilities));
        if let Some(ml) = member.get("mlAbilities") {
            doc.insert("mlMemberAbilities".into(), ml.clone());
        }
        copy_members(
            input,
            &mut doc,
            &[
                "queryLogStatus",
                "jobLogStatus",
                "defaultResultConfiguration",
                "defaultJobResultConfiguration",
            ],
        );
        let payment = input
            .get("paymentConfiguration")
            .or(assigned)
            .cloned()
            .unwrap_or_else(|| json!({ "queryCompute": { "isResponsible": false } }));
        doc.insert("paymentConfiguration".into(), payment);
        copy_members(input, &mut doc, &["isMetricsEnabled"]);

        let collab = state
            .collaborations
            .iter_mut()
            .find(|c| s(&c.doc, "id") == collab_id)
            .expect("found above");
        if let Some(entry) = collab.members.iter_mut().find(|m| s(m, "accountId") == me) {
            entry.insert("status".into(), json!("ACTIVE"));
            entry.insert("membershipId".into(), json!(id));
            entry.insert("membershipArn".into(), json!(membership_arn));
            entry.insert("updateTime".into(), time.clone());
        }
        state.memberships.push(MembershipRec {
            account_id: me.to_string(),
            doc: doc.clone(),
            tags: input_tags(input),
        });
        Ok(json!({ "membership": doc }))
    })
}

pub(crate) fn get_membership(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "membershipIdentifier");
    get_doc(inner, "membership", |state| {
        Ok(&own_membership(state, caller, id)?.doc)
    })
}

pub(crate) fn list_memberships(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let filter = opt_str(input, "status");
    list_page(inner, input, "ListMemberships", "membershipSummaries", |state| {
        Ok(state
            .memberships
            .iter()
            .filter(|m| m.account_id == account(caller))
            .filter(|m| filter.is_none_or(|f| s(&m.doc, "status") == f))
            .map(|m| projected("MembershipSummary", &m.doc))
            .collect())
    })
}

pub(crate) fn update_membership(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "membershipIdentifier");
    inner.write(|state| {
        let receives = own_membership(state, caller, id)?
            .doc
            .get("memberAbilities")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == CAN_RECEIVE_RESULTS));
        for key in ["defaultResultConfiguration", "defaultJobResultConfiguration"] {
            if input.contains_key(key) && !receives {
                return Err(ApiError::invalid(format!(
                    "{key} can only be set by a member with the CAN_RECEIVE_RESULTS ability"
                )));
            }
        }
        let m = state
            .memberships
            .iter_mut()
            .find(|m| s(&m.doc, "id") == id)
            .expect("checked above");
        copy_members(
            input,
            &mut m.doc,
            &[
                "queryLogStatus",
                "jobLogStatus",
                "defaultResultConfiguration",
                "defaultJobResultConfiguration",
            ],
        );
        if let Some(Value::Object(update)) = input.get("membershipPaymentConfiguration") {
            let payment = m
                .doc
                .entry("paymentConfiguration")
                .or_insert_with(|| json!({ "queryCompute": { "isResponsible": false } }));
            for (k, v) in update {
                payment[k] = v.clone();
            }
        }
        m.doc.insert("updateTime".into(), now());
        Ok(json!({ "membership": m.doc }))
    })
}
