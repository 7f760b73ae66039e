//! The Set-Mailbox settings an order may change, compared with the
//! mailbox's current values so that an unchanged value causes no write.
//!
//! Types are Exchange's (Set-Mailbox.md): the quotas and message sizes are
//! `Unlimited<ByteQuantifiedSize>` ("a number ... or the value unlimited",
//! qualified with B, KB, MB, GB or TB), the flags `Boolean`,
//! ForwardingAddress a recipient identity, ForwardingSmtpAddress an SMTP
//! address.

use super::fields::Fields;
use idconn_sdk::command;
use idconn_sdk::Command;
use idconn_sdk::{Scalar, Value};

/// Text settings passed as they are (null clears them).
pub const TEXT_SETTINGS: [&str; 4] = [
    "Alias",
    "DisplayName",
    "ForwardingAddress",
    "ForwardingSmtpAddress",
];

/// `Unlimited<ByteQuantifiedSize>` settings.
pub const SIZE_SETTINGS: [&str; 8] = [
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
    "IssueWarningQuota",
    "RecoverableItemsQuota",
    "RecoverableItemsWarningQuota",
    "CalendarLoggingQuota",
    "MaxSendSize",
    "MaxReceiveSize",
];

/// Boolean settings.
pub const BOOLEAN_SETTINGS: [&str; 5] = [
    "DeliverToMailboxAndForward",
    "UseDatabaseQuotaDefaults",
    "UseDatabaseRetentionDefaults",
    "RetainDeletedItemsUntilBackup",
    "AntispamBypassEnabled",
];

/// Every setting, for the state read and the list of handled fields.
pub fn all() -> impl Iterator<Item = &'static str> {
    TEXT_SETTINGS
        .into_iter()
        .chain(SIZE_SETTINGS)
        .chain(BOOLEAN_SETTINGS)
}

/// A size as Exchange means it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Unlimited,
    Bytes(u64),
}

impl Size {
    /// The argument sent to Exchange: `Unlimited` or the exact byte count
    /// qualified with `B`, so nothing is rounded.
    pub fn argument(self) -> String {
        match self {
            Size::Unlimited => "Unlimited".to_owned(),
            Size::Bytes(bytes) => format!("{bytes}B"),
        }
    }
}

/// Reads a size as Exchange writes it (`Unlimited`, `2 GB (2,147,483,648
/// bytes)`: the exact count is in the parentheses) or as an operator types
/// it (`2GB`, `1.5 GB`, `2147483648`; Set-Mailbox.md: "Unqualified values
/// are typically treated as bytes"). Empty or null is Unlimited (the
/// value that removes a limit).
pub fn parse_size(text: &str) -> Option<Size> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("unlimited") {
        return Some(Size::Unlimited);
    }
    if let Some((_, inner)) = text.split_once('(') {
        let count = inner.trim_end_matches(')').trim();
        let count = count
            .strip_suffix("bytes")
            .or_else(|| count.strip_suffix("byte"))?
            .trim()
            .replace([',', '.', '\u{a0}', ' '], "");
        return count.parse().ok().map(Size::Bytes);
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
    let mut bytes = whole.parse::<u128>().ok()?.checked_mul(multiplier)?;
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        bytes = bytes.checked_add(digits * multiplier / 10u128.pow(fraction.len() as u32))?;
    }
    u64::try_from(bytes).ok().map(Size::Bytes)
}

/// Whether two texts of `setting` mean the same value.
fn same_text(setting: &str, desired: Option<&str>, current: Option<&str>) -> bool {
    match setting {
        // `smtp:a@b` and `a@b` are one forwarding address; SMTP addresses
        // compare case-insensitively.
        "ForwardingSmtpAddress" => {
            let bare = |t: Option<&str>| {
                t.map(|t| {
                    let t = t.trim();
                    t.split_once(':')
                        .filter(|(p, _)| p.eq_ignore_ascii_case("smtp"))
                        .map_or(t, |(_, a)| a)
                        .to_lowercase()
                })
            };
            bare(desired) == bare(current)
        }
        // A recipient identity: Exchange shows it as its canonical name,
        // compared as AD compares names (case-insensitively).
        "ForwardingAddress" => desired.map(str::to_lowercase) == current.map(str::to_lowercase),
        _ => desired == current,
    }
}

/// The `Set-Mailbox -Identity <id> -<Setting> <value> ...` call for the
/// settings of `changes` that differ from `current`, or why a value is
/// unusable.
pub fn call(identity: &str, changes: Fields, current: Fields) -> Result<Option<Command>, String> {
    let mut settings = command("Set-Mailbox").text("Identity", identity);
    let mut any = false;
    for name in TEXT_SETTINGS {
        if !changes.has(name) {
            continue;
        }
        let desired = changes.text(name);
        if !same_text(name, desired.as_deref(), current.text(name).as_deref()) {
            settings = match &desired {
                Some(text) => settings.text(name, text),
                None => settings.value(name, Value::Scalar(Scalar::Null)),
            };
            any = true;
        }
    }
    for name in SIZE_SETTINGS {
        if !changes.has(name) {
            continue;
        }
        let text = changes.text(name).unwrap_or_default();
        let desired = parse_size(&text).ok_or_else(|| {
            format!(
                "the order's {name} `{text}` is not a size: expected Unlimited, a number of bytes, or a number with B, KB, MB, GB or TB"
            )
        })?;
        let now = current.text(name).and_then(|t| parse_size(&t));
        if now != Some(desired) {
            settings = settings.text(name, &desired.argument());
            any = true;
        }
    }
    for name in BOOLEAN_SETTINGS {
        if let Some(flag) = changes.boolean(name) {
            if current.boolean(name) != Some(flag) {
                settings = settings.boolean(name, flag);
                any = true;
            }
        }
    }
    Ok(any.then(|| settings.build()))
}

#[cfg(test)]
mod tests {
    use super::{parse_size, Size};

    #[test]
    fn sizes_are_read_in_exchange_and_operator_forms() {
        let gb2 = Some(Size::Bytes(2_147_483_648));
        assert_eq!(parse_size("2 GB (2,147,483,648 bytes)"), gb2);
        assert_eq!(parse_size("2GB"), gb2);
        assert_eq!(parse_size("2 gb"), gb2);
        assert_eq!(parse_size("2147483648"), gb2);
        assert_eq!(parse_size("2147483648B"), gb2);
        assert_eq!(
            parse_size("1.5 GB (1,610,612,736 bytes)"),
            Some(Size::Bytes(1_610_612_736))
        );
        assert_eq!(parse_size("1.5GB"), Some(Size::Bytes(1_610_612_736)));
        assert_eq!(parse_size("Unlimited"), Some(Size::Unlimited));
        assert_eq!(parse_size(""), Some(Size::Unlimited));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("2 XB"), None);
        assert_eq!(parse_size("99999999999999999999 TB"), None);
        assert_eq!(Size::Bytes(5).argument(), "5B");
    }
}
