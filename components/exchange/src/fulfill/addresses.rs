//! Which proxy addresses an order adds and removes.
//!
//! Usercube's rules build SMTP addresses only, so a full `EmailAddresses`
//! value manages `SMTP:`/`smtp:` addresses and nothing else: X500 (legacy
//! DNs that replies to old mail are addressed to), SIP, EUM, X400 and any
//! other type stay unless `EmailAddresses_remove` names them. Among SMTP
//! addresses, a hybrid deployment's coexistence routing address
//! (`*.mail.onmicrosoft.com`, stamped by the hybrid configuration, not by
//! any rule) is kept the same way: losing it stops mail routing to the
//! cloud. Addresses compare case-insensitively, prefix included (`SMTP:a`
//! and `smtp:a` are one address).

use std::collections::HashSet;

use super::fields::Fields;
use crate::values::PRIMARY_SMTP_PREFIX;

pub const EMAIL_ADDRESSES: &str = "EmailAddresses";
pub const EMAIL_ADDRESSES_ADD: &str = "EmailAddresses_add";
pub const EMAIL_ADDRESSES_REMOVE: &str = "EmailAddresses_remove";
pub const PRIMARY_SMTP_ADDRESS: &str = "PrimarySmtpAddress";

/// The domain suffix of hybrid coexistence routing addresses
/// (`alias@tenant.mail.onmicrosoft.com`).
const HYBRID_ROUTING_SUFFIX: &str = ".mail.onmicrosoft.com";

/// The requested primary SMTP address, without its prefix: the
/// `PrimarySmtpAddress` field, else the `SMTP:` entry of the addresses.
pub fn desired_primary(changes: Fields) -> Option<String> {
    changes.text(PRIMARY_SMTP_ADDRESS).or_else(|| {
        [EMAIL_ADDRESSES, EMAIL_ADDRESSES_ADD]
            .iter()
            .filter_map(|name| changes.list(name))
            .find_map(|list| primary_in(&list))
    })
}

pub fn primary_in(addresses: &[String]) -> Option<String> {
    addresses
        .iter()
        .find_map(|a| a.strip_prefix(PRIMARY_SMTP_PREFIX))
        .map(str::to_owned)
}

fn is_smtp(address: &str) -> bool {
    address
        .split_once(':')
        .is_some_and(|(prefix, _)| prefix.eq_ignore_ascii_case("smtp"))
}

/// An SMTP address no rule builds: kept by a full replacement.
fn is_hybrid_routing(address: &str) -> bool {
    is_smtp(address) && address.to_lowercase().ends_with(HYBRID_ROUTING_SUFFIX)
}

/// Whether a full replacement may remove `address` when the order does
/// not list it.
fn managed(address: &str) -> bool {
    is_smtp(address) && !is_hybrid_routing(address)
}

/// Addresses to add and to remove. A full `EmailAddresses` value is diffed
/// against the current addresses (managed ones only, see the module);
/// `EmailAddresses_add` / `_remove` are taken as they are, minus no-ops
/// when the current addresses are known. The primary is left to its own
/// call.
pub fn delta(changes: Fields, current: &[String]) -> (Vec<String>, Vec<String>) {
    let current_keys: HashSet<String> = current.iter().map(|a| a.to_lowercase()).collect();
    let known = !current.is_empty();
    let named_remove = changes.list(EMAIL_ADDRESSES_REMOVE).unwrap_or_default();
    let named_remove_keys: HashSet<String> =
        named_remove.iter().map(|a| a.to_lowercase()).collect();
    let mut add: Vec<String> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let push = |list: &mut Vec<String>, address: String| {
        if !list.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            list.push(address);
        }
    };
    let additions = changes
        .list(EMAIL_ADDRESSES)
        .into_iter()
        .chain(changes.list(EMAIL_ADDRESSES_ADD))
        .flatten();
    for address in additions {
        if !address.starts_with(PRIMARY_SMTP_PREFIX)
            && !current_keys.contains(&address.to_lowercase())
            && !named_remove_keys.contains(&address.to_lowercase())
        {
            push(&mut add, address);
        }
    }
    if let Some(desired) = changes.list(EMAIL_ADDRESSES) {
        let desired_keys: HashSet<String> = desired
            .iter()
            .map(|a| secondary_form(a).to_lowercase())
            .collect();
        // Without a new primary, the current one stays: a mailbox cannot be
        // left without one.
        let new_primary = desired_primary(changes).is_some();
        for address in current {
            let key = secondary_form(address).to_lowercase();
            if address.starts_with(PRIMARY_SMTP_PREFIX) && !new_primary {
                continue;
            }
            if managed(address) && !desired_keys.contains(&key) {
                push(&mut remove, secondary_form(address));
            }
        }
    }
    for address in named_remove {
        if !known || current_keys.contains(&address.to_lowercase()) {
            push(&mut remove, secondary_form(&address));
        }
    }
    (add, remove)
}

/// A former primary is removed after the primary moved, so as `smtp:`.
pub fn secondary_form(address: &str) -> String {
    match address.strip_prefix(PRIMARY_SMTP_PREFIX) {
        Some(rest) => format!("smtp:{rest}"),
        None => address.to_owned(),
    }
}

/// The addresses of `removed` still held in `after` (an email address
/// policy stamped them back).
pub fn restamped(removed: &[String], after: &[String]) -> Vec<String> {
    let held: HashSet<String> = after
        .iter()
        .map(|a| secondary_form(a).to_lowercase())
        .collect();
    removed
        .iter()
        .filter(|a| held.contains(&secondary_form(a).to_lowercase()))
        .cloned()
        .collect()
}
