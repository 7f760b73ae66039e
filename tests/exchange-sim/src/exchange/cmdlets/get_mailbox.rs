//! `Get-Mailbox`: a cursor over the directory, pulled one mailbox at a time.

use super::{fail_with, Invocation, GET_MAILBOX};
use crate::exchange::args::{as_text, Bound};
use crate::exchange::errors::{self, parameter_binding};
use crate::exchange::model::{ou_distinguished_name, AdUser, Directory};
use crate::exchange::opath::{self, Filter};
use crate::exchange::pipeline::{Ev, Item, Stage, Upstream};
use crate::exchange::render::MailboxView;
use crate::exchange::text::{cmp_ci, eq_ci};
use crate::exchange::Shared;
use std::collections::VecDeque;
use std::ops::Bound as RangeBound;
use std::sync::Arc;

const DEFAULT_RESULT_SIZE: u64 = 1000;

pub const DEFAULT_LIMIT_WARNING: &str = "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify \"-ResultSize Unlimited\". Be aware that, depending upon the actual number of items, returning all items can take a long time and consume a large amount of memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results to another task or script to perform batch changes.";
pub const EXPLICIT_LIMIT_WARNING: &str = "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.";

enum Source {
    /// Walks the directory in id order; `after` is the last id seen.
    Scan { after: Option<u64> },
    /// Candidates already chosen (by identity or sorted).
    Ids(VecDeque<u64>),
}

struct Criteria {
    filter: Option<Filter>,
    database: Option<u64>,
    ou: Option<String>,
    kinds: Option<Vec<String>>,
}

impl Criteria {
    fn view(&self, dir: &Directory, user: &Arc<AdUser>) -> Option<MailboxView> {
        let mbx = user.mailbox.as_ref()?;
        if self.database.is_some_and(|d| d != mbx.database) {
            return None;
        }
        if let Some(ou) = &self.ou {
            let canonical = &user.organizational_unit;
            let inside = eq_ci(canonical, ou)
                || (canonical.len() > ou.len()
                    && canonical.is_char_boundary(ou.len())
                    && eq_ci(&canonical[..ou.len()], ou)
                    && canonical[ou.len()..].starts_with('/'))
                || eq_ci(&ou_distinguished_name(canonical), ou)
                || ou_distinguished_name(canonical)
                    .to_ascii_lowercase()
                    .ends_with(&format!(",{}", ou.to_ascii_lowercase()));
            if !inside {
                return None;
            }
        }
        if let Some(kinds) = &self.kinds {
            if !kinds
                .iter()
                .any(|k| eq_ci(k, mbx.kind.recipient_type_details()))
            {
                return None;
            }
        }
        let view = MailboxView {
            user: user.clone(),
            database: dir.databases.get(&mbx.database).cloned(),
        };
        match &self.filter {
            Some(f) if !f.matches(&view) => None,
            _ => Some(view),
        }
    }
}

struct GetMailbox {
    org: Arc<Shared>,
    source: Source,
    criteria: Criteria,
    limit: Option<u64>,
    default_limit: bool,
    emitted: u64,
    done: bool,
}

impl GetMailbox {
    fn advance(&mut self, consume: bool) -> Option<MailboxView> {
        let dir = self.org.read();
        match &mut self.source {
            Source::Scan { after } => {
                let start = after.map_or(RangeBound::Unbounded, RangeBound::Excluded);
                for (id, user) in dir.users.range((start, RangeBound::Unbounded)) {
                    if let Some(view) = self.criteria.view(&dir, user) {
                        if consume {
                            *after = Some(*id);
                        }
                        return Some(view);
                    }
                    if consume {
                        *after = Some(*id);
                    }
                }
                None
            }
            Source::Ids(ids) => {
                let mut index = 0;
                while let Some(id) = ids.get(index).copied() {
                    let found = dir.users.get(&id).and_then(|u| self.criteria.view(&dir, u));
                    if consume {
                        ids.pop_front();
                    } else {
                        index += 1;
                    }
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
        }
    }
}

impl Stage for GetMailbox {
    fn next(&mut self) -> Option<Ev> {
        if self.done {
            return None;
        }
        if self.limit.is_some_and(|l| self.emitted >= l) {
            self.done = true;
            return self.advance(false).map(|_| {
                Ev::Warning(
                    if self.default_limit {
                        DEFAULT_LIMIT_WARNING
                    } else {
                        EXPLICIT_LIMIT_WARNING
                    }
                    .to_string(),
                )
            });
        }
        match self.advance(true) {
            Some(view) => {
                self.emitted += 1;
                Some(Ev::Item(Item::Mailbox(view)))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

fn sort_key(user: &AdUser, property: &str) -> Option<String> {
    let mbx = user.mailbox.as_ref()?;
    let key = match property.to_ascii_lowercase().as_str() {
        "name" => user.name.clone(),
        "displayname" => user.display_name.clone(),
        "alias" => mbx.alias.clone(),
        "samaccountname" => user.sam_account_name.clone(),
        "primarysmtpaddress" => mbx.primary_smtp_address().to_string(),
        "userprincipalname" => user.user_principal_name.clone(),
        "whenchanged" | "whenchangedutc" => crate::exchange::text::dt_utc(&user.when_changed),
        "whencreated" | "whencreatedutc" => crate::exchange::text::dt_utc(&user.when_created),
        "guid" => user.guid.clone(),
        _ => return None,
    };
    Some(key)
}

const SORTABLE: &[&str] = &[
    "Name",
    "DisplayName",
    "Alias",
    "SamAccountName",
    "PrimarySmtpAddress",
    "UserPrincipalName",
    "WhenChanged",
    "WhenChangedUTC",
    "WhenCreated",
    "WhenCreatedUTC",
    "Guid",
];

pub fn build(inv: &Invocation, bound: Bound, _upstream: Upstream) -> Box<dyn Stage> {
    let server = inv.server().to_string();
    let (limit, default_limit) = match bound.get("ResultSize") {
        None => (Some(DEFAULT_RESULT_SIZE), true),
        Some(value) => {
            let text = as_text(value).unwrap_or_default();
            if text.trim().eq_ignore_ascii_case("unlimited") {
                (None, false)
            } else {
                match text.trim().parse::<u64>() {
                    Ok(n) => (Some(n), false),
                    Err(_) => {
                        return fail_with(Ev::Failed(parameter_binding(
                            GET_MAILBOX,
                            "CannotConvertArgumentNoMessage",
                            format!(
                                "Cannot bind parameter 'ResultSize'. Cannot convert value \"{text}\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\". Error: \"The value \"{text}\" isn't valid. Valid values are \"Unlimited\" or a positive number.\""
                            ),
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
                    GET_MAILBOX,
                    "ParameterBindingFailed",
                    e.message,
                )))
            }
        },
    };
    let sort_by = bound.text("SortBy");
    if let Some(prop) = &sort_by {
        if !SORTABLE.iter().any(|s| eq_ci(s, prop)) {
            return fail_with(Ev::Failed(parameter_binding(
                GET_MAILBOX,
                "ParameterBindingFailed",
                format!(
                    "Cannot bind parameter 'SortBy' to the target. Exception setting \"SortBy\": \"\"{prop}\" is not a recognized sortable property. Sortable properties are: {}.\"",
                    SORTABLE.join(", ")
                ),
            )));
        }
    }
    let dir = inv.org.read();
    let database = match bound.text("Database") {
        None => None,
        Some(text) => match dir.find_databases(&text, false).as_slice() {
            [one] => Some(*one),
            [] => return fail_with(Ev::Error(errors::not_found(&server, GET_MAILBOX, &text))),
            _ => return fail_with(Ev::Error(errors::ambiguous(&server, GET_MAILBOX, &text))),
        },
    };
    let ou = bound.text("OrganizationalUnit");
    if let Some(ou_text) = &ou {
        let known = dir.users.values().any(|u| {
            eq_ci(&u.organizational_unit, ou_text)
                || eq_ci(&ou_distinguished_name(&u.organizational_unit), ou_text)
                || u.organizational_unit
                    .to_lowercase()
                    .starts_with(&format!("{}/", ou_text.to_lowercase()))
        });
        if !known {
            return fail_with(Ev::Error(errors::not_found(&server, GET_MAILBOX, ou_text)));
        }
    }
    let kinds = bound.get("RecipientTypeDetails").map(|v| {
        crate::exchange::args::as_list(v)
            .iter()
            .filter_map(as_text)
            .flat_map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    let criteria = Criteria {
        filter,
        database,
        ou,
        kinds,
    };
    let identity = bound.text("Identity");
    let source = if let Some(identity) = &identity {
        let ids: VecDeque<u64> = dir
            .find_users(identity, true)
            .into_iter()
            .filter(|id| dir.users.get(id).is_some_and(|u| u.mailbox.is_some()))
            .collect();
        if ids.is_empty() {
            return fail_with(Ev::Error(errors::not_found(&server, GET_MAILBOX, identity)));
        }
        Source::Ids(ids)
    } else if let Some(prop) = &sort_by {
        let mut keyed: Vec<(String, u64)> = dir
            .users
            .values()
            .filter(|u| criteria.view(&dir, u).is_some())
            .filter_map(|u| sort_key(u, prop).map(|k| (k, u.id)))
            .collect();
        keyed.sort_by(|a, b| cmp_ci(&a.0, &b.0).then(a.1.cmp(&b.1)));
        Source::Ids(keyed.into_iter().map(|(_, id)| id).collect())
    } else {
        Source::Scan { after: None }
    };
    drop(dir);
    Box::new(GetMailbox {
        org: inv.org.clone(),
        source,
        criteria,
        limit,
        default_limit,
        emitted: 0,
        done: false,
    })
}
