//! `Get-User`: every object with a user account, mailbox or not
//! (Get-User.md: "returns all objects that have user accounts (for
//! example, user mailboxes, mail users, and user accounts)"), with no
//! mail-related properties. The connector's incremental export reads it to
//! see mailboxes disabled since the last run: their user stays, with
//! `RecipientTypeDetails` `User`.

use super::{fail_with, Invocation, GET_USER};
use crate::exchange::args::{as_text, Bound};
use crate::exchange::errors::{self, parameter_binding};
use crate::exchange::model::{AdUser, DOMAIN};
use crate::exchange::opath::{self, Filter};
use crate::exchange::pipeline::{Ev, Item, Stage, Upstream};
use crate::exchange::render::{s, MailboxView, RenderCtx};
use crate::exchange::text::{dt_local, dt_utc};
use crate::exchange::Shared;
use idconn_psrp::clixml::{PsObject, Value};
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

static USER_TYPES: LazyLock<Arc<[String]>> = LazyLock::new(|| {
    [
        "Microsoft.Exchange.Data.Directory.Management.User",
        "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
        "Microsoft.Exchange.Data.Directory.ADObject",
        "Microsoft.Exchange.Data.Directory.ADRawEntry",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect()
});

/// `RecipientTypeDetails` of a user: its mailbox's kind, else `User`
/// (`DisabledUser` when the account is disabled; values from Get-User.md
/// `-RecipientTypeDetails`).
pub fn recipient_type_details(user: &AdUser) -> &'static str {
    match &user.mailbox {
        Some(mailbox) => mailbox.kind.recipient_type_details(),
        None if user.account_disabled => "DisabledUser",
        None => "User",
    }
}

fn user_object(user: &AdUser, ctx: &RenderCtx) -> Value {
    let kind = recipient_type_details(user);
    let recipient_type = if user.mailbox.is_some() {
        "UserMailbox"
    } else {
        "User"
    };
    let adapted = vec![
        ("Name".to_string(), s(&user.name)),
        ("SamAccountName".to_string(), s(&user.sam_account_name)),
        (
            "UserPrincipalName".to_string(),
            s(&user.user_principal_name),
        ),
        (
            "DistinguishedName".to_string(),
            s(user.distinguished_name()),
        ),
        ("Identity".to_string(), s(user.identity())),
        ("Guid".to_string(), Value::Guid(user.guid.clone())),
        ("RecipientType".to_string(), s(recipient_type)),
        ("RecipientTypeDetails".to_string(), s(kind)),
        (
            "OrganizationalUnit".to_string(),
            s(&user.organizational_unit),
        ),
        ("OriginatingServer".to_string(), s(format!("DC01.{DOMAIN}"))),
        (
            "WhenChanged".to_string(),
            Value::DateTime(dt_local(&user.when_changed, ctx.offset)),
        ),
        (
            "WhenCreated".to_string(),
            Value::DateTime(dt_local(&user.when_created, ctx.offset)),
        ),
        (
            "WhenChangedUTC".to_string(),
            Value::DateTime(dt_utc(&user.when_changed)),
        ),
        (
            "WhenCreatedUTC".to_string(),
            Value::DateTime(dt_utc(&user.when_created)),
        ),
    ];
    Value::Object(Box::new(PsObject {
        type_names: USER_TYPES.clone(),
        to_string: Some(user.name.clone()),
        adapted,
        ..PsObject::default()
    }))
}

enum Source {
    /// Walks the directory in id order; `after` is the last id seen.
    Scan {
        after: Option<u64>,
    },
    Ids(VecDeque<u64>),
}

struct GetUser {
    org: Arc<Shared>,
    render: RenderCtx,
    source: Source,
    filter: Option<Filter>,
    limit: Option<u64>,
    emitted: u64,
}

fn matches(filter: Option<&Filter>, user: &Arc<AdUser>) -> bool {
    filter.is_none_or(|f| {
        f.matches(&MailboxView {
            user: user.clone(),
            database: None,
        })
    })
}

impl GetUser {
    fn advance(&mut self) -> Option<Arc<AdUser>> {
        let org = self.org.clone();
        let dir = org.read();
        match &mut self.source {
            Source::Scan { after } => {
                let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
                let mut found = None;
                for (id, user) in dir.users.range((start, std::ops::Bound::Unbounded)) {
                    *after = Some(*id);
                    if matches(self.filter.as_ref(), user) {
                        found = Some(user.clone());
                        break;
                    }
                }
                found
            }
            Source::Ids(ids) => {
                while let Some(id) = ids.pop_front() {
                    if let Some(user) = dir.users.get(&id) {
                        if matches(self.filter.as_ref(), user) {
                            return Some(user.clone());
                        }
                    }
                }
                None
            }
        }
    }
}

impl Stage for GetUser {
    fn next(&mut self) -> Option<Ev> {
        if self.limit.is_some_and(|l| self.emitted >= l) {
            return None;
        }
        let user = self.advance()?;
        self.emitted += 1;
        Some(Ev::Item(Item::Object(user_object(&user, &self.render))))
    }
}

pub fn build(inv: &Invocation, bound: Bound, _upstream: Upstream) -> Box<dyn Stage> {
    let server = inv.server().to_string();
    let limit = match bound.get("ResultSize") {
        // Get-User.md: "The default value is 1000."
        None => Some(1000),
        Some(value) => {
            let text = as_text(value).unwrap_or_default();
            if text.trim().eq_ignore_ascii_case("unlimited") {
                None
            } else {
                match text.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        return fail_with(Ev::Failed(parameter_binding(
                            GET_USER,
                            "CannotConvertArgumentNoMessage",
                            format!("Cannot bind parameter 'ResultSize'. The value \"{text}\" isn't valid. Valid values are \"Unlimited\" or a positive number."),
                        )))
                    }
                }
            }
        }
    };
    let filter = match bound.text("Filter") {
        None => None,
        Some(text) => match opath::parse(&text, inv.render.offset) {
            Ok(f) => Some(f),
            Err(e) => {
                return fail_with(Ev::Failed(parameter_binding(
                    GET_USER,
                    "ParameterBindingFailed",
                    e.message,
                )))
            }
        },
    };
    let source = match bound.text("Identity") {
        None => Source::Scan { after: None },
        Some(identity) => {
            let ids: VecDeque<u64> = inv.org.read().find_users(&identity, true).into();
            if ids.is_empty() {
                return fail_with(Ev::Error(errors::not_found(&server, GET_USER, &identity)));
            }
            Source::Ids(ids)
        }
    };
    Box::new(GetUser {
        org: inv.org.clone(),
        render: inv.render,
        source,
        filter,
        limit,
        emitted: 0,
    })
}
