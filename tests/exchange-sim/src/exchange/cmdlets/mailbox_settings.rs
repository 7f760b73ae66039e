//! The Set-Mailbox settings beyond addresses, each with the .NET type
//! Exchange binds it to (Set-Mailbox.md): quotas and sizes are
//! `Unlimited<ByteQuantifiedSize>`, the flags `Boolean`, ForwardingAddress a
//! `RecipientIdParameter`, ForwardingSmtpAddress a `ProxyAddress`.

use super::SET_MAILBOX;
use crate::backend::SimErrorRecord;
use crate::exchange::args::{as_text, Bound};
use crate::exchange::errors::{self, invalid_argument, parameter_binding};
use crate::exchange::model::{AdUser, Directory, DOMAIN};
use idconn_psrp::clixml::Value;

const UNLIMITED_BYTES: &str =
    "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]";

/// "A valid value is a number up to 1.999999999 terabytes (2199023254528
/// bytes) or the value unlimited" (Set-Mailbox.md, the quota parameters).
const MAX_QUOTA: u64 = 2_199_023_254_528;
/// "A valid value is a number up to 2097151 kilobytes (2147482624 bytes)
/// or the value unlimited" (Set-Mailbox.md, MaxSendSize/MaxReceiveSize).
const MAX_MESSAGE_SIZE: u64 = 2_147_482_624;

/// The quota and size parameters, with their upper bounds.
const SIZES: [(&str, u64); 8] = [
    ("ProhibitSendQuota", MAX_QUOTA),
    ("ProhibitSendReceiveQuota", MAX_QUOTA),
    ("IssueWarningQuota", MAX_QUOTA),
    ("RecoverableItemsQuota", MAX_QUOTA),
    ("RecoverableItemsWarningQuota", MAX_QUOTA),
    ("CalendarLoggingQuota", MAX_QUOTA),
    ("MaxSendSize", MAX_MESSAGE_SIZE),
    ("MaxReceiveSize", MAX_MESSAGE_SIZE),
];

const FLAGS: [&str; 5] = [
    "DeliverToMailboxAndForward",
    "UseDatabaseQuotaDefaults",
    "UseDatabaseRetentionDefaults",
    "RetainDeletedItemsUntilBackup",
    "AntispamBypassEnabled",
];

/// `unlimited`, or a number with an optional unit B, KB, MB, GB, TB ("When
/// you enter a number, you can qualify it with one of the following
/// units ... Unqualified values are typically treated as bytes").
/// `Some(None)` is Unlimited. The display form `2 GB (2,147,483,648
/// bytes)` is refused: whether Exchange parses it back is not documented,
/// so the simulator assumes the strict reading (docs/simulator.md).
pub fn parse_byte_quantity(text: &str) -> Option<Option<u64>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Some(None);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u128 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.len() > 9 || fraction.contains('.') {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let mut bytes = whole.checked_mul(multiplier)?;
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
        bytes = bytes.checked_add(digits * multiplier / scale)?;
    }
    u64::try_from(bytes).ok().map(Some)
}

fn transformation_error(name: &str, shown: &str, target_type: &str, why: &str) -> SimErrorRecord {
    parameter_binding(
        SET_MAILBOX,
        "ParameterArgumentTransformationError",
        format!(
            "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{shown}\" to type \"{target_type}\". Error: \"{why}\""
        ),
    )
}

/// PowerShell binds only booleans and numbers to a Boolean parameter.
pub fn flag(bound: &Bound, name: &str) -> Result<Option<bool>, SimErrorRecord> {
    let Some(value) = bound.get(name) else {
        return Ok(None);
    };
    match value {
        Value::Bool(b) => Ok(Some(*b)),
        Value::I32(n) => Ok(Some(*n != 0)),
        Value::I64(n) => Ok(Some(*n != 0)),
        Value::Object(o) if matches!(o.value.as_ref(), Some(Value::Bool(_))) => {
            Ok(Some(matches!(o.value.as_ref(), Some(Value::Bool(true)))))
        }
        other => Err(parameter_binding(
            SET_MAILBOX,
            "ParameterArgumentTransformationError",
            format!(
                "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{}\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.",
                as_text(other).unwrap_or_else(|| "System.Object".to_string())
            ),
        )),
    }
}

fn size(
    server: &str,
    bound: &Bound,
    name: &str,
    max: u64,
) -> Result<Option<Option<u64>>, SimErrorRecord> {
    let Some(value) = bound.get(name) else {
        return Ok(None);
    };
    let Some(text) = as_text(value) else {
        return Err(parameter_binding(
            SET_MAILBOX,
            "ParameterArgumentValidationErrorNullNotAllowed",
            format!(
                "Cannot validate argument on parameter '{name}'. The argument is null. Provide a valid value for the argument, and then try running the command again."
            ),
        ));
    };
    let parsed = parse_byte_quantity(&text).ok_or_else(|| {
        transformation_error(
            name,
            &text,
            UNLIMITED_BYTES,
            "The value must be a number with an optional unit (B, KB, MB, GB, TB) or 'unlimited'.",
        )
    })?;
    if parsed.is_some_and(|b| b > max) {
        return Err(invalid_argument(
            server,
            SET_MAILBOX,
            format!("The value of {name} must be less than or equal to {max} bytes."),
        ));
    }
    Ok(Some(parsed))
}

/// "Strings formed with characters from A to Z ..., digits from 0 to 9, !,
/// #, $, %, &, ', *, +, -, /, =, ?, ^, _, `, {, |, } or ~", periods only
/// between other characters (Exchange's alias rule, Set-Mailbox.md Alias).
fn valid_alias(alias: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !alias.is_empty()
        && alias.len() <= 64
        && alias.chars().all(|c| ok(c) || c == '.')
        && !alias.starts_with('.')
        && !alias.ends_with('.')
        && !alias.contains("..")
}

/// Applies the settings parameters to `updated` (the mailbox's user).
pub fn apply(
    dir: &Directory,
    server: &str,
    bound: &Bound,
    updated: &mut AdUser,
) -> Result<(), SimErrorRecord> {
    let self_id = updated.id;
    let Some(mbx) = updated.mailbox.as_mut() else {
        return Ok(());
    };
    if let Some(value) = bound.get("Alias") {
        let alias = as_text(value).unwrap_or_default();
        if !valid_alias(alias.trim()) {
            return Err(invalid_argument(
                server,
                SET_MAILBOX,
                format!(
                    "Property expression \"{alias}\" isn't valid. Valid values are: Strings formed with characters from A to Z (uppercase or lowercase), digits from 0 to 9, !, #, $, %, &, ', *, +, -, /, =, ?, ^, _, `, {{, |, }} or ~. One or more periods may be embedded in an alias, but each period should be preceded and followed by at least one of the other characters."
                ),
            ));
        }
        mbx.alias = alias.trim().to_string();
    }
    if let Some(value) = bound.get("ForwardingAddress") {
        mbx.forwarding_address = match as_text(value).filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(text) => {
                let found: Vec<u64> = dir
                    .find_users(&text, false)
                    .into_iter()
                    .filter(|id| {
                        *id != self_id && dir.users.get(id).is_some_and(|u| u.mailbox.is_some())
                    })
                    .collect();
                match found.as_slice() {
                    [one] => dir.users.get(one).map(|u| u.identity()),
                    [] => return Err(errors::not_found(server, SET_MAILBOX, &text)),
                    _ => return Err(errors::ambiguous(server, SET_MAILBOX, &text)),
                }
            }
        };
    }
    if let Some(value) = bound.get("ForwardingSmtpAddress") {
        mbx.forwarding_smtp_address = match as_text(value).filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(text) => {
                let text = text.trim();
                let address = text
                    .split_once(':')
                    .filter(|(p, _)| p.eq_ignore_ascii_case("smtp"))
                    .map_or(text, |(_, a)| a);
                let valid = address
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
                if !valid {
                    return Err(transformation_error(
                        "ForwardingSmtpAddress",
                        text,
                        "Microsoft.Exchange.Data.ProxyAddress",
                        &format!("The address '{text}' is invalid: \"{address}\" isn't a valid SMTP address. The domain name can't contain spaces and it has to have a prefix and a suffix, such as example.com."),
                    ));
                }
                Some(format!("smtp:{address}"))
            }
        };
    }
    for (name, max) in SIZES {
        let Some(bytes) = size(server, bound, name, max)? else {
            continue;
        };
        let slot = match name {
            "ProhibitSendQuota" => &mut mbx.prohibit_send_quota,
            "ProhibitSendReceiveQuota" => &mut mbx.prohibit_send_receive_quota,
            "IssueWarningQuota" => &mut mbx.issue_warning_quota,
            "RecoverableItemsQuota" => &mut mbx.settings.recoverable_items_quota,
            "RecoverableItemsWarningQuota" => &mut mbx.settings.recoverable_items_warning_quota,
            "CalendarLoggingQuota" => &mut mbx.settings.calendar_logging_quota,
            "MaxSendSize" => &mut mbx.max_send_size,
            _ => &mut mbx.max_receive_size,
        };
        *slot = bytes;
    }
    for name in FLAGS {
        let Some(value) = flag(bound, name)? else {
            continue;
        };
        let slot = match name {
            "DeliverToMailboxAndForward" => &mut mbx.deliver_to_mailbox_and_forward,
            "UseDatabaseQuotaDefaults" => &mut mbx.use_database_quota_defaults,
            "UseDatabaseRetentionDefaults" => &mut mbx.settings.use_database_retention_defaults,
            "RetainDeletedItemsUntilBackup" => &mut mbx.settings.retain_deleted_items_until_backup,
            _ => &mut mbx.settings.antispam_bypass_enabled,
        };
        *slot = value;
    }
    if let Some(value) = bound.get("DisplayName") {
        updated.display_name = as_text(value).unwrap_or_default();
    }
    Ok(())
}

/// The address the organization's email address policy stamps besides the
/// primary: the simulator's policy has one secondary template, `%m@<domain>`
/// (the alias). Exchange re-applies the policy of a recipient whose
/// EmailAddressPolicyEnabled is $true when the recipient is updated
/// (Set-Mailbox.md EmailAddressPolicyEnabled); which templates a real
/// policy holds is the organization's choice (docs/simulator.md).
pub fn policy_address(alias: &str) -> String {
    format!("smtp:{alias}@{DOMAIN}")
}

#[cfg(test)]
mod tests {
    use super::parse_byte_quantity;

    #[test]
    fn byte_quantities_parse_as_exchange_documents_them() {
        assert_eq!(parse_byte_quantity("Unlimited"), Some(None));
        assert_eq!(parse_byte_quantity("2GB"), Some(Some(2_147_483_648)));
        assert_eq!(parse_byte_quantity("2 GB"), Some(Some(2_147_483_648)));
        assert_eq!(parse_byte_quantity("1.5 kb"), Some(Some(1536)));
        assert_eq!(parse_byte_quantity("2147483648"), Some(Some(2_147_483_648)));
        assert_eq!(
            parse_byte_quantity("2147483648B"),
            Some(Some(2_147_483_648))
        );
        assert_eq!(parse_byte_quantity("2 GB (2,147,483,648 bytes)"), None);
        assert_eq!(parse_byte_quantity("lots"), None);
        assert_eq!(parse_byte_quantity(""), None);
    }
}
