//! Finding the mailboxes gone since the last export, cheaply.
//!
//! Listing every mailbox (`Get-Mailbox -ResultSize Unlimited | Select-Object
//! Guid`) costs the server about as much as a complete export, so an
//! incremental export does it only for a periodic reconciliation, when the
//! cookie's last one is `ReconciliationHours` old or more. In between,
//! `Get-User -Filter "WhenChangedUTC -ge '<since>'"` lists only the users
//! changed since the last export (Get-User.md: it "returns all objects
//! that have user accounts (for example, user mailboxes, mail users, and
//! user accounts)"). Disabling a mailbox (Disable-Mailbox) keeps the user
//! and clears its mailbox attributes, which moves its `WhenChanged`, so a
//! known guid whose `RecipientTypeDetails` is no longer one Get-Mailbox
//! returns is reported `Delete` at once. A removed user (Remove-Mailbox,
//! or the account deleted in Active Directory) is a tombstone no Exchange
//! cmdlet lists: it is reported by the next reconciliation. README.md,
//! "Cheap incrementals", has the trade-offs.

use chrono::{DateTime, TimeDelta, Utc};

use super::rows::guid_of;
use super::schema::{self, GUID, RECIPIENT_TYPE_DETAILS};
use super::{filter_date, Run, FILTER_SLACK_HOURS};
use idconn_sdk::batch::ValueRef;
use idconn_sdk::{Reporter, Shell};

/// The `RecipientTypeDetails` values Get-Mailbox returns (Get-Mailbox.md,
/// `-RecipientTypeDetails`: "filters the results by the specified mailbox
/// subtype. Valid values are: ..."). Any other value on a known guid
/// (`User`, `DisabledUser`, `MailUser`, `RemoteUserMailbox`...) means the
/// mailbox is gone from Get-Mailbox's output.
pub const MAILBOX_TYPES: [&str; 11] = [
    "DiscoveryMailbox",
    "EquipmentMailbox",
    "GroupMailbox",
    "LegacyMailbox",
    "LinkedMailbox",
    "LinkedRoomMailbox",
    "RoomMailbox",
    "SchedulingMailbox",
    "SharedMailbox",
    "TeamMailbox",
    "UserMailbox",
];

/// When no option says otherwise: a removed mailbox is reported within a
/// day, and the full listing runs at most once a day.
pub const DEFAULT_RECONCILIATION_HOURS: u32 = 24;

/// Whether this export lists every mailbox: the last reconciliation was
/// `hours` or more before `started_at` (0: every export reconciles).
pub fn reconciliation_due(
    reconciled_at: &DateTime<Utc>,
    started_at: &DateTime<Utc>,
    hours: u32,
) -> bool {
    *started_at - *reconciled_at >= TimeDelta::hours(i64::from(hours))
}

impl<S: Shell, R: Reporter> Run<'_, S, R> {
    /// The guids of users changed from `since` on that are no longer
    /// mailboxes, among `known`.
    pub(super) fn disabled_mailboxes(
        &mut self,
        since: &DateTime<Utc>,
        known: impl Fn(u128) -> bool,
    ) -> Result<Vec<u128>, idconn_sdk::Failure> {
        let pipeline = schema::changed_users_pipeline(&filter_date(
            &(*since - TimeDelta::hours(FILTER_SLACK_HOURS)),
        ));
        let mut gone = Vec::new();
        self.pull("Get-User", &pipeline, |_, object| {
            let guid = match object.get(GUID) {
                Some(ValueRef::Scalar(scalar)) => guid_of(scalar),
                _ => None,
            };
            let Some(guid) = guid.filter(|g| known(*g)) else {
                return Ok(());
            };
            let kind = match object.get(RECIPIENT_TYPE_DETAILS) {
                Some(ValueRef::Scalar(scalar)) => scalar.to_owned_scalar(),
                // Without the property nothing is known: not a deletion.
                _ => return Ok(()),
            };
            let is_mailbox = match &kind {
                idconn_sdk::Scalar::Text(text) => {
                    MAILBOX_TYPES.iter().any(|t| t.eq_ignore_ascii_case(text))
                }
                // A value that is not text is not understood: keep it.
                _ => true,
            };
            if !is_mailbox {
                gone.push(guid);
            }
            Ok(())
        })?;
        gone.sort_unstable();
        gone.dedup();
        Ok(gone)
    }
}
