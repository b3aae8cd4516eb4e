//! The sandbox's fixed identities: SigV4 access keys mapped to 12-digit account ids.
//!
//! Every request to the sandbox is signed with one of these key pairs; the access key id in the
//! signature's credential scope says which account is calling. The table is documented in the
//! README ("Sandbox identities").

/// One sandbox identity: an access key pair and the account it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// A short role name: `author`, `provider` or `outsider`.
    pub name: &'static str,
    pub access_key_id: &'static str,
    pub secret_access_key: &'static str,
    pub account_id: &'static str,
}

/// The template author (creates and publishes templates, receives results).
pub const AUTHOR: Identity = Identity {
    name: "author",
    access_key_id: "AKIASANDBOXAUTHOR001",
    secret_access_key: "sandbox/author/secret/key/0000000000000",
    account_id: "111111111111",
};

/// The data provider (owns configured tables, reviews and approves templates).
pub const PROVIDER: Identity = Identity {
    name: "provider",
    access_key_id: "AKIASANDBOXPROVIDER2",
    secret_access_key: "sandbox/provider/secret/key/00000000000",
    account_id: "222222222222",
};

/// An account that is not a member of any seeded collaboration.
pub const OUTSIDER: Identity = Identity {
    name: "outsider",
    access_key_id: "AKIASANDBOXOUTSIDER3",
    secret_access_key: "sandbox/outsider/secret/key/0000000000",
    account_id: "333333333333",
};

/// All identities the sandbox accepts.
pub const ALL: [Identity; 3] = [AUTHOR, PROVIDER, OUTSIDER];

/// The identity that signs with `access_key_id`, if any.
pub fn by_access_key(access_key_id: &str) -> Option<&'static Identity> {
    ALL.iter().find(|i| i.access_key_id == access_key_id)
}

/// The identity of `account_id`, if any.
pub fn by_account(account_id: &str) -> Option<&'static Identity> {
    ALL.iter().find(|i| i.account_id == account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_accounts_are_unique_and_well_formed() {
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(a.account_id.len(), 12);
            assert!(a.account_id.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(by_access_key(a.access_key_id), Some(a));
            assert_eq!(by_account(a.account_id), Some(a));
            for b in &ALL[i + 1..] {
                assert_ne!(a.access_key_id, b.access_key_id);
                assert_ne!(a.account_id, b.account_id);
            }
        }
        assert!(by_access_key("AKIANOBODY").is_none());
    }
}
