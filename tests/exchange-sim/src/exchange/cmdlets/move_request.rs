//! New-MoveRequest, Get-MoveRequest, Get-MoveRequestStatistics,
//! Remove-MoveRequest over the requests of [`crate::exchange::moves`].

use super::{
    input_identity, missing_identity, resolve_database, resolve_user, Invocation, Target,
    GET_MOVE_REQUEST, GET_MOVE_REQUEST_STATISTICS, NEW_MOVE_REQUEST, REMOVE_MOVE_REQUEST,
};
use crate::backend::SimErrorRecord;
use crate::exchange::args::Bound;
use crate::exchange::errors::{self, exchange_error, task_error, CmdletId};
use crate::exchange::model::{now_seconds, Directory};
use crate::exchange::moves::{MoveRequest, MoveStatus};
use crate::exchange::pipeline::{Ev, Fixed, Item, PerInput, Stage, Upstream};
use crate::exchange::render::{s, RenderCtx, TYPES};
use crate::exchange::text::{dt_local, eq_ci};
use idconn_psrp::clixml::{PsObject, Value};
use std::sync::{Arc, LazyLock};

/// Exchange's refusal of a second request for one mailbox. Its exact
/// wording is not in Microsoft's documentation: guessed (docs/simulator.md).
fn already_has_request(server: &str, identity: &str) -> SimErrorRecord {
    exchange_error(
        server,
        NEW_MOVE_REQUEST,
        "Microsoft.Exchange.Management.RecipientTasks.ManagementObjectAlreadyExistsException",
        "InvalidArgument",
        format!("The user '{identity}' already has a move request associated with it."),
        Some(identity.to_string()),
    )
}

pub fn new_move_request(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    let render = inv.render;
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(NEW_MOVE_REQUEST)];
        };
        let target_db = bound.text("TargetDatabase").unwrap_or_default();
        let batch = bound.text("BatchName").unwrap_or_default();
        let seconds = org.move_seconds();
        let result = org.mutate(|dir| {
            let id = resolve_user(dir, &server, NEW_MOVE_REQUEST, &target, true)?;
            let user = dir.users.get(&id).cloned().ok_or_else(|| {
                errors::not_found(&server, NEW_MOVE_REQUEST, &format!("{target:?}"))
            })?;
            if dir.move_requests.contains_key(&id) {
                return Err(already_has_request(&server, &user.identity()));
            }
            let db = resolve_database(
                dir,
                &server,
                NEW_MOVE_REQUEST,
                &Target::Text(target_db.clone()),
            )?;
            let current = user.mailbox.as_ref().map_or(0, |m| m.database);
            let name = |id: u64| {
                dir.databases
                    .get(&id)
                    .map_or(String::new(), |d| d.name.clone())
            };
            if current == db {
                return Err(task_error(
                    &server,
                    NEW_MOVE_REQUEST,
                    format!(
                        "The mailbox \"{}\" is already in the target database \"{}\".",
                        user.identity(),
                        name(current)
                    ),
                    Some(user.identity()),
                ));
            }
            let request = MoveRequest::new(
                id,
                (current, name(current)),
                (db, name(db)),
                batch.clone(),
                seconds,
            );
            dir.move_requests.insert(id, request.clone());
            Ok((request_object(dir, &request, render), true))
        });
        match result {
            Ok(value) => vec![Ev::Item(Item::Object(value))],
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}

/// The request of the mailbox `target` designates, or Exchange's "couldn't
/// be found" when it has none.
fn find_request<'a>(
    dir: &'a Directory,
    server: &str,
    cmdlet: CmdletId,
    target: &Target,
) -> Result<&'a MoveRequest, SimErrorRecord> {
    let id = resolve_user(dir, server, cmdlet, target, false)?;
    dir.move_requests.get(&id).ok_or_else(|| {
        let shown = match target {
            Target::Text(text) => text.clone(),
            Target::Id(_) => dir.users.get(&id).map_or(String::new(), |u| u.identity()),
        };
        errors::not_found(server, cmdlet, &shown)
    })
}

pub fn get_move_request(inv: &Invocation, bound: Bound, _upstream: Upstream) -> Box<dyn Stage> {
    let dir = inv.org.read();
    let server = inv.server();
    let now = now_seconds();
    let requests: Vec<&MoveRequest> = match bound.text("Identity") {
        Some(identity) => {
            match find_request(&dir, server, GET_MOVE_REQUEST, &Target::Text(identity)) {
                Ok(request) => vec![request],
                Err(e) => return Box::new(Fixed([Ev::Error(e)].into())),
            }
        }
        None => dir.move_requests.values().collect(),
    };
    let status = bound.text("MoveStatus");
    let target = bound.text("TargetDatabase");
    let batch = bound.text("BatchName");
    let events = requests
        .into_iter()
        .filter(|r| {
            status
                .as_ref()
                .is_none_or(|s| eq_ci(s, r.status_at(now).as_str()))
        })
        .filter(|r| target.as_ref().is_none_or(|t| eq_ci(t, &r.target_name)))
        .filter(|r| batch.as_ref().is_none_or(|b| eq_ci(b, &r.batch_name)))
        .map(|r| Ev::Item(Item::Object(request_object(&dir, r, inv.render))))
        .collect();
    Box::new(Fixed(events))
}

pub fn get_statistics(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    let render = inv.render;
    Box::new(PerInput::new(upstream, move |item| {
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(GET_MOVE_REQUEST_STATISTICS)];
        };
        let dir = org.read();
        match find_request(&dir, &org.server_name, GET_MOVE_REQUEST_STATISTICS, &target) {
            Ok(request) => vec![Ev::Item(Item::Object(statistics_object(
                &dir, request, render,
            )))],
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}

pub fn remove_move_request(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(REMOVE_MOVE_REQUEST)];
        };
        // Removing a request that is still running cancels the move: the
        // mailbox stays where it is (Remove-MoveRequest.md).
        let result = org.mutate(|dir| {
            let user = find_request(dir, &server, REMOVE_MOVE_REQUEST, &target)?.user;
            dir.move_requests.remove(&user);
            Ok(((), true))
        });
        match result {
            Ok(()) => Vec::new(),
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}

/// The properties a MoveRequest shares with its statistics.
fn common(dir: &Directory, request: &MoveRequest) -> (String, Vec<(String, Value)>) {
    let user = dir.users.get(&request.user);
    let (name, identity, display) = user.map_or_else(
        || (String::new(), String::new(), String::new()),
        |u| (u.name.clone(), u.identity(), u.display_name.clone()),
    );
    let (alias, guid) = user
        .and_then(|u| u.mailbox.as_ref())
        .map_or((String::new(), String::new()), |m| {
            (m.alias.clone(), m.exchange_guid.clone())
        });
    let properties = vec![
        ("DisplayName".to_string(), s(display)),
        ("Alias".to_string(), s(alias)),
        (
            "ExchangeGuid".to_string(),
            if guid.is_empty() {
                Value::Nil
            } else {
                Value::Guid(guid)
            },
        ),
        ("SourceDatabase".to_string(), s(request.source_name.clone())),
        ("TargetDatabase".to_string(), s(request.target_name.clone())),
        ("BatchName".to_string(), s(request.batch_name.clone())),
        ("Identity".to_string(), s(identity)),
        ("Name".to_string(), s(name.clone())),
    ];
    (name, properties)
}

fn request_object(dir: &Directory, request: &MoveRequest, _render: RenderCtx) -> Value {
    let now = now_seconds();
    let (name, mut adapted) = common(dir, request);
    adapted.extend([
        (
            "Status".to_string(),
            s(request.status_at(now).as_str().to_string()),
        ),
        ("Flags".to_string(), s("IntraOrg, Pull")),
        ("RemoteHostName".to_string(), s("")),
        ("Protect".to_string(), Value::Bool(false)),
        ("Suspend".to_string(), Value::Bool(false)),
        ("SuspendWhenReadyToComplete".to_string(), Value::Bool(false)),
        ("RequestStyle".to_string(), s("IntraOrg")),
        ("Direction".to_string(), s("Pull")),
        ("IsOffline".to_string(), Value::Bool(false)),
    ]);
    Value::Object(Box::new(PsObject {
        type_names: TYPES.move_request.clone(),
        to_string: Some(name),
        adapted,
        ..PsObject::default()
    }))
}

static STATISTICS_TYPES: LazyLock<Arc<[String]>> = LazyLock::new(|| {
    [
        "Microsoft.Exchange.MailboxReplicationService.MoveRequestStatistics",
        "Microsoft.Exchange.MailboxReplicationService.RequestStatisticsBase",
        "System.Object",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect()
});

fn statistics_object(dir: &Directory, request: &MoveRequest, render: RenderCtx) -> Value {
    let now = now_seconds();
    let status = request.status_at(now);
    let (name, mut adapted) = common(dir, request);
    let (message, failure_type) = match (&request.failure, status) {
        (Some((message, kind)), _) => (message.clone(), s(kind.clone())),
        (None, MoveStatus::Completed) => ("Request is complete.".to_string(), Value::Nil),
        (None, MoveStatus::Queued) => (
            "The job is queued for the Mailbox Replication Service.".to_string(),
            Value::Nil,
        ),
        (None, _) => ("Copying messages.".to_string(), Value::Nil),
    };
    let date = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(Value::Nil, |t| Value::DateTime(dt_local(&t, render.offset)))
    };
    adapted.extend([
        ("Status".to_string(), s(status.as_str())),
        (
            "StatusDetail".to_string(),
            s(match status {
                MoveStatus::Queued => "Queued",
                MoveStatus::InProgress => "CopyingMessages",
                MoveStatus::Completed => "Completed",
                MoveStatus::Failed => "FailedOther",
            }),
        ),
        (
            "PercentComplete".to_string(),
            Value::I32(request.percent_complete(now)),
        ),
        ("Message".to_string(), s(message)),
        ("FailureType".to_string(), failure_type),
        ("QueuedTimestamp".to_string(), date(Some(request.created))),
        ("CompletionTimestamp".to_string(), {
            if status == MoveStatus::Completed {
                date(request.finished)
            } else {
                Value::Nil
            }
        }),
        ("FailureTimestamp".to_string(), {
            if status == MoveStatus::Failed {
                date(request.finished)
            } else {
                Value::Nil
            }
        }),
    ]);
    Value::Object(Box::new(PsObject {
        type_names: STATISTICS_TYPES.clone(),
        to_string: Some(name),
        adapted,
        ..PsObject::default()
    }))
}
