//! The organization's directory: AD users (with or without a mailbox),
//! mailbox databases and servers. Records are kept behind `Arc` so a running
//! pipeline holds a consistent snapshot of each object without copying it.

use super::text::{eq_ci, like_ci};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DOMAIN: &str = "contoso.com";
pub const NETBIOS: &str = "CONTOSO";
pub const DC_FQDN: &str = "dc01.contoso.com";
pub const ORG_NAME: &str = "First Organization";
pub const ADMIN_GROUP: &str = "Exchange Administrative Group (FYDIBOHF23SPDLT)";
pub const DOMAIN_DN: &str = "DC=contoso,DC=com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxKind {
    User,
    Shared,
    Room,
    Equipment,
    Linked,
}

impl MailboxKind {
    pub fn recipient_type_details(self) -> &'static str {
        match self {
            MailboxKind::User => "UserMailbox",
            MailboxKind::Shared => "SharedMailbox",
            MailboxKind::Room => "RoomMailbox",
            MailboxKind::Equipment => "EquipmentMailbox",
            MailboxKind::Linked => "LinkedMailbox",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// `EXCH01`
    pub name: String,
}

impl Server {
    pub fn legacy_dn(&self) -> String {
        format!(
            "/o={ORG_NAME}/ou={ADMIN_GROUP}/cn=Configuration/cn=Servers/cn={}",
            self.name
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxDatabase {
    pub id: u64,
    pub guid: String,
    pub name: String,
    pub server: String,
    pub edb_file_path: String,
    pub log_folder_path: String,
    pub mounted: bool,
    pub when_created: DateTime<Utc>,
    pub when_changed: DateTime<Utc>,
}

impl MailboxDatabase {
    pub fn distinguished_name(&self) -> String {
        format!(
            "CN={},CN=Databases,CN={ADMIN_GROUP},CN=Administrative Groups,CN={ORG_NAME},CN=Microsoft Exchange,CN=Services,CN=Configuration,{DOMAIN_DN}",
            escape_rdn(&self.name)
        )
    }
}

/// The mailbox part of a mailbox-enabled user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub exchange_guid: String,
    pub database: u64,
    pub alias: String,
    pub kind: MailboxKind,
    /// Proxy addresses, primary `SMTP:` first.
    pub email_addresses: Vec<String>,
    pub email_address_policy_enabled: bool,
    /// A recipient's Identity (ADObjectId string form).
    pub forwarding_address: Option<String>,
    /// `smtp:someone@example.org`
    pub forwarding_smtp_address: Option<String>,
    pub deliver_to_mailbox_and_forward: bool,
    pub use_database_quota_defaults: bool,
    pub prohibit_send_quota: Option<u64>,
    pub prohibit_send_receive_quota: Option<u64>,
    pub issue_warning_quota: Option<u64>,
    pub max_send_size: Option<u64>,
    pub max_receive_size: Option<u64>,
    pub legacy_exchange_dn: String,
    pub linked_master_account: String,
    pub when_mailbox_created: DateTime<Utc>,
    /// Settings Set-Mailbox changes beyond the ones above (absent from
    /// older state files: then Exchange's defaults).
    #[serde(default)]
    pub settings: MailboxSettings,
}

/// More of a mailbox's Set-Mailbox settings, with Exchange 2016's defaults
/// for a new mailbox (Set-Mailbox.md: RecoverableItemsQuota 30 GB,
/// RecoverableItemsWarningQuota 20 GB, CalendarLoggingQuota 6 GB;
/// UseDatabaseRetentionDefaults $true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxSettings {
    pub recoverable_items_quota: Option<u64>,
    pub recoverable_items_warning_quota: Option<u64>,
    pub calendar_logging_quota: Option<u64>,
    pub use_database_retention_defaults: bool,
    pub retain_deleted_items_until_backup: bool,
    pub antispam_bypass_enabled: bool,
}

impl Default for MailboxSettings {
    fn default() -> Self {
        MailboxSettings {
            recoverable_items_quota: Some(30 << 30),
            recoverable_items_warning_quota: Some(20 << 30),
            calendar_logging_quota: Some(6 << 30),
            use_database_retention_defaults: true,
            retain_deleted_items_until_backup: false,
            antispam_bypass_enabled: false,
        }
    }
}

impl Mailbox {
    /// The address after `SMTP:`; empty when the list has no primary.
    pub fn primary_smtp_address(&self) -> &str {
        self.email_addresses
            .iter()
            .find_map(|a| a.strip_prefix("SMTP:"))
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdUser {
    pub id: u64,
    pub guid: String,
    pub name: String,
    pub display_name: String,
    pub sam_account_name: String,
    pub user_principal_name: String,
    /// Canonical name of the OU: `contoso.com/Users`, `contoso.com/Staff/Sales`.
    pub organizational_unit: String,
    pub account_disabled: bool,
    pub when_created: DateTime<Utc>,
    pub when_changed: DateTime<Utc>,
    pub mailbox: Option<Mailbox>,
}

impl AdUser {
    /// `contoso.com/Users/Jane Doe`: Exchange's Identity and Id.
    pub fn identity(&self) -> String {
        format!("{}/{}", self.organizational_unit, self.name)
    }

    pub fn distinguished_name(&self) -> String {
        format!(
            "CN={},{}",
            escape_rdn(&self.name),
            ou_distinguished_name(&self.organizational_unit)
        )
    }

    /// Whether `id` designates this user the way Exchange's identity
    /// parameters resolve: GUID, name, SAM, UPN, DN, canonical name,
    /// DOMAIN\sam, and for a mailbox its alias, Exchange GUID, legacy DN and
    /// any proxy address (with or without its prefix).
    pub fn matches_identity(&self, id: &str) -> bool {
        let id = id.trim();
        if eq_ci(&self.guid, id)
            || eq_ci(&self.name, id)
            || eq_ci(&self.sam_account_name, id)
            || eq_ci(&self.user_principal_name, id)
            || eq_ci(&self.identity(), id)
            || eq_ci(&self.distinguished_name(), id)
        {
            return true;
        }
        if let Some((domain, sam)) = id.split_once('\\') {
            if eq_ci(domain, NETBIOS) && eq_ci(sam, &self.sam_account_name) {
                return true;
            }
        }
        let Some(mbx) = &self.mailbox else {
            return false;
        };
        if eq_ci(&mbx.alias, id)
            || eq_ci(&mbx.exchange_guid, id)
            || eq_ci(&mbx.legacy_exchange_dn, id)
        {
            return true;
        }
        mbx.email_addresses.iter().any(|a| address_matches(a, id))
    }

    /// `Get-*` also accepts wildcards on the name and alias.
    pub fn matches_wildcard(&self, pattern: &str) -> bool {
        like_ci(pattern, &self.name)
            || self
                .mailbox
                .as_ref()
                .is_some_and(|m| like_ci(pattern, &m.alias))
    }
}

/// `SMTP:a@b` matches `a@b`, `smtp:a@b` and `SMTP:a@b`; `X500:...` matches
/// its own full form and its address part.
pub fn address_matches(proxy: &str, query: &str) -> bool {
    if eq_ci(proxy, query) {
        return true;
    }
    let (p_prefix, p_addr) = proxy.split_once(':').unwrap_or(("smtp", proxy));
    match query.split_once(':') {
        Some((q_prefix, q_addr)) if !q_prefix.contains('@') && !q_prefix.contains('/') => {
            eq_ci(p_prefix, q_prefix) && eq_ci(p_addr, q_addr)
        }
        _ => eq_ci(p_addr, query),
    }
}

/// Escapes the characters AD requires in an RDN value.
pub fn escape_rdn(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `contoso.com/Staff/Sales` -> `OU=Sales,OU=Staff,DC=contoso,DC=com`;
/// the built-in `Users` container is a CN.
pub fn ou_distinguished_name(canonical: &str) -> String {
    let mut parts: Vec<&str> = canonical.split('/').skip(1).collect();
    let container_is_builtin = parts.first().is_some_and(|p| *p == "Users");
    parts.reverse();
    let mut dn = String::new();
    let count = parts.len();
    for (i, p) in parts.iter().enumerate() {
        let kind = if container_is_builtin && i + 1 == count {
            "CN"
        } else {
            "OU"
        };
        dn.push_str(kind);
        dn.push('=');
        dn.push_str(&escape_rdn(p));
        dn.push(',');
    }
    dn.push_str(DOMAIN_DN);
    dn
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Minutes east of UTC for the server's local time (WhenChanged...).
    pub utc_offset_minutes: i32,
    pub servers: Vec<Server>,
    pub databases: BTreeMap<u64, Arc<MailboxDatabase>>,
    pub users: BTreeMap<u64, Arc<AdUser>>,
    pub next_id: u64,
    /// Move requests by the AD user id of their mailbox (one per mailbox,
    /// kept after completion as Exchange keeps them).
    pub move_requests: BTreeMap<u64, super::moves::MoveRequest>,
}

impl Directory {
    pub fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_minutes.clamp(-14 * 60, 14 * 60) * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or(Utc.fix()))
    }

    pub fn allocate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn mailbox_count(&self) -> usize {
        self.users.values().filter(|u| u.mailbox.is_some()).count()
    }

    /// Ids of users designated by `identity` (wildcards allowed when asked).
    pub fn find_users(&self, identity: &str, wildcards: bool) -> Vec<u64> {
        let wild = wildcards && identity.contains('*');
        self.users
            .values()
            .filter(|u| {
                if wild {
                    u.matches_wildcard(identity)
                } else {
                    u.matches_identity(identity)
                }
            })
            .map(|u| u.id)
            .collect()
    }

    pub fn find_databases(&self, identity: &str, wildcards: bool) -> Vec<u64> {
        let identity = identity.trim();
        let wild = wildcards && identity.contains('*');
        self.databases
            .values()
            .filter(|d| {
                if wild {
                    like_ci(identity, &d.name)
                } else {
                    eq_ci(&d.name, identity)
                        || eq_ci(&d.guid, identity)
                        || eq_ci(&d.distinguished_name(), identity)
                }
            })
            .map(|d| d.id)
            .collect()
    }

    /// The recipient other than `except` that already holds this proxy
    /// address (the address part compared, whatever the prefix).
    pub fn proxy_owner(&self, proxy: &str, except: u64) -> Option<&Arc<AdUser>> {
        let (prefix, addr) = proxy.split_once(':').unwrap_or(("smtp", proxy));
        self.users.values().find(|u| {
            u.id != except
                && u.mailbox.as_ref().is_some_and(|m| {
                    m.email_addresses.iter().any(|a| {
                        let (p, x) = a.split_once(':').unwrap_or(("smtp", a));
                        eq_ci(p, prefix) && eq_ci(x, addr)
                    }) || eq_ci(&m.legacy_exchange_dn, addr)
                })
        })
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| eq_ci(&s.name, name))
    }
}

use chrono::Offset;

/// `--clock-skew-seconds`: how far the simulated domain controller's clock
/// is from this machine's. AD's whenChanged is stamped by the DC that
/// applied the change, with its own clock, and is not replicated
/// ([MS-ADA3] 2.370 Attribute whenChanged: FLAG_ATTR_NOT_REPLICATED), so a
/// client must never assume the stamp is on its clock. One process-wide
/// value: the simulator models one DC.
static CLOCK_SKEW_SECONDS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Sets the skew of every later [`now_seconds`] (negative: the DC is behind).
pub fn set_clock_skew_seconds(seconds: i64) {
    CLOCK_SKEW_SECONDS.store(seconds, std::sync::atomic::Ordering::Relaxed);
}

/// The time Exchange stamps on a change: whole seconds, like AD, on the
/// DC's clock (this machine's plus `--clock-skew-seconds`).
pub fn now_seconds() -> DateTime<Utc> {
    let now = Utc::now();
    let skew = CLOCK_SKEW_SECONDS.load(std::sync::atomic::Ordering::Relaxed);
    DateTime::from_timestamp(now.timestamp().saturating_add(skew), 0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names_escape_and_nest() {
        assert_eq!(
            ou_distinguished_name("contoso.com/Users"),
            "CN=Users,DC=contoso,DC=com"
        );
        assert_eq!(
            ou_distinguished_name("contoso.com/Staff/Sales"),
            "OU=Sales,OU=Staff,DC=contoso,DC=com"
        );
        assert_eq!(escape_rdn("Doe, \"JD\" John"), "Doe\\, \\\"JD\\\" John");
    }

    #[test]
    fn proxy_addresses_match_with_or_without_prefix() {
        assert!(address_matches("SMTP:a@b.com", "A@B.com"));
        assert!(address_matches("smtp:a@b.com", "SMTP:a@b.com"));
        assert!(!address_matches("smtp:a@b.com", "x500:a@b.com"));
        assert!(address_matches(
            "X500:/o=First Organization/cn=x",
            "/o=First Organization/cn=x"
        ));
    }
}
