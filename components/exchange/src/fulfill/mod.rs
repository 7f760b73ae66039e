//! Provisioning orders: each order becomes a few Exchange cmdlets.
//!
//! Every order is handled on its own: a failure marks that order `Errored`
//! with Exchange's message and the next order goes on. Orders converge: the
//! current state is read where a blind call would fail on a second run
//! (enabling an enabled mailbox, creating an existing database, a move
//! already requested), and "not found" on a removal counts as already done.
//! Exchange's warnings of an order's calls are appended to its message.

mod addresses;
mod database;
mod fields;
mod mailbox;
mod moves;
mod settings;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};

use idconn_sdk::batch::{objects as batch_objects, PsObject};
use idconn_sdk::Level;
use idconn_sdk::{describe_error, describe_record, PipelineOutput, Reporter, Shell};
use idconn_sdk::{ChangeType, FulfillRequest, Order, OrderResult, ProvisioningState};
use idconn_sdk::{Command, Error, ErrorRecord};

/// The two entity types of the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Mailbox,
    Database,
}

pub fn run<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &FulfillRequest,
) -> Result<Vec<OrderResult>, String> {
    let mapping = entity_mapping(&request.entity_types)?;
    let total = request.orders.len() as u64;
    reporter.log(
        Level::Info,
        &format!("fulfilling {total} order(s) on {}", request.connection),
    );
    let calls = Calls::new(shell);
    let mut results = Vec::with_capacity(request.orders.len());
    for (done, order) in request.orders.iter().enumerate() {
        let outcome = fulfill_order(&calls, &mapping, order);
        let (state, mut message) = match outcome {
            Ok(message) => (ProvisioningState::Executed, message),
            Err(message) => (ProvisioningState::Errored, message),
        };
        let warnings = calls.take_warnings();
        for warning in &warnings {
            reporter.log(
                Level::Warn,
                &format!("order {}: Exchange warned: {warning}", order.assignment_id),
            );
        }
        if !warnings.is_empty() {
            message = format!("{message}; Exchange warned: {}", warnings.join("; "));
        }
        let level = match state {
            ProvisioningState::Executed => Level::Info,
            ProvisioningState::Errored => Level::Warn,
        };
        reporter.log(
            level,
            &format!(
                "order {}: {}: {message}",
                order.assignment_id,
                match state {
                    ProvisioningState::Executed => "Executed",
                    ProvisioningState::Errored => "Errored",
                }
            ),
        );
        results.push(OrderResult {
            assignment_id: order.assignment_id.clone(),
            state,
            message,
        });
        let entity = match entity_of(&mapping, &order.target_entity_type) {
            Some(Entity::Database) => crate::DATABASE,
            _ => crate::MAILBOX,
        };
        reporter.count(entity, done as u64 + 1, Some(total));
    }
    Ok(results)
}

fn entity_mapping(entity_types: &[(String, String)]) -> Result<Vec<(String, Entity)>, String> {
    entity_types
        .iter()
        .map(|(identifier, kind)| {
            let entity = match kind.to_ascii_lowercase().as_str() {
                "mailbox" => Entity::Mailbox,
                "database" => Entity::Database,
                _ => {
                    return Err(format!(
                        "the entity type `{identifier}` is mapped to `{kind}`; map it to `mailbox` or `database`"
                    ))
                }
            };
            Ok((identifier.clone(), entity))
        })
        .collect()
}

fn entity_of(mapping: &[(String, Entity)], identifier: &str) -> Option<Entity> {
    if let Some((_, entity)) = mapping.iter().find(|(id, _)| id == identifier) {
        return Some(*entity);
    }
    if identifier.ends_with("_Mailbox") {
        Some(Entity::Mailbox)
    } else if identifier.ends_with("_Database") {
        Some(Entity::Database)
    } else {
        None
    }
}

/// `Ok(what was done)` or `Err(why it failed)`.
fn fulfill_order<S: Shell>(
    calls: &Calls<'_, S>,
    mapping: &[(String, Entity)],
    order: &Order,
) -> Result<String, String> {
    let Some(entity) = entity_of(mapping, &order.target_entity_type) else {
        return Err(format!(
            "unknown target entity type `{}`: expected an identifier ending in `_Mailbox` or \
             `_Database`, or one mapped in the connection's entity types",
            order.target_entity_type
        ));
    };
    let change = match &order.change_type {
        ChangeType::Added => Change::Added,
        ChangeType::Modified => Change::Modified,
        ChangeType::Deleted => Change::Deleted,
        ChangeType::Other(other) => {
            return Err(format!(
                "unknown change type `{other}`: expected Added, Modified or Deleted"
            ))
        }
    };
    match entity {
        Entity::Mailbox => mailbox::fulfill(calls, change, order),
        Entity::Database => database::fulfill(calls, change, order),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Added,
    Modified,
    Deleted,
}

/// A failed call, with whether the failure means "no such object".
struct CallError {
    message: String,
    not_found: bool,
}

impl From<CallError> for String {
    fn from(error: CallError) -> String {
        error.message
    }
}

/// At most this many warnings of one order are kept, each cut to
/// [`WARNING_CHARS`] characters: they come from the server, so they are
/// bounded like anything else it sends.
const MAX_WARNINGS: usize = 8;
const WARNING_CHARS: usize = 1024;

/// Runs the cmdlets of one order, keeping the warnings they write.
struct Calls<'a, S> {
    shell: &'a S,
    warnings: RefCell<Vec<String>>,
    dropped_warnings: Cell<usize>,
}

impl<'a, S: Shell> Calls<'a, S> {
    fn new(shell: &'a S) -> Self {
        Calls {
            shell,
            warnings: RefCell::new(Vec::new()),
            dropped_warnings: Cell::new(0),
        }
    }

    /// The warnings since the last call (`<cmdlet>: <text>`), distinct and
    /// bounded, with a count of those left out.
    fn take_warnings(&self) -> Vec<String> {
        let mut warnings = self.warnings.take();
        let dropped = self.dropped_warnings.replace(0);
        if dropped > 0 {
            warnings.push(format!("{dropped} more warning(s) not shown"));
        }
        warnings
    }

    fn keep_warnings(&self, what: &str, warnings: Vec<String>) {
        let mut kept = self.warnings.borrow_mut();
        for warning in warnings {
            let mut text: String = warning.chars().take(WARNING_CHARS).collect();
            if text.len() < warning.len() {
                text.push_str("...");
            }
            let text = format!("{what}: {text}");
            if kept.contains(&text) {
                continue;
            }
            if kept.len() >= MAX_WARNINGS {
                self.dropped_warnings.set(self.dropped_warnings.get() + 1);
            } else {
                kept.push(text);
            }
        }
    }

    /// Runs a pipeline to its end and returns its output. Error records
    /// written by the cmdlet count as failure: a half-applied change must
    /// not be reported `Executed`.
    fn call(&self, pipeline: &[Command]) -> Result<Vec<PsObject>, CallError> {
        let what = pipeline
            .first()
            .map(|c| c.name.as_str())
            .unwrap_or("pipeline");
        let failed = |error: &Error| CallError {
            message: describe_error(what, error),
            not_found: matches!(error, Error::Remote(record) if is_not_found(record)),
        };
        let mut output = self.shell.invoke(pipeline).map_err(|e| failed(&e))?;
        let mut objects = Vec::new();
        let drained = loop {
            match output.next(64) {
                Ok(Some(batch)) => {
                    objects.extend(batch_objects(&batch).map(|o| o.to_owned_object()))
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(failed(&e)),
            }
        };
        // Warnings written before a failure are the operator's too.
        self.keep_warnings(what, output.warnings());
        drained?;
        if let Some(first) = output.errors().first() {
            return Err(CallError {
                message: format!("{what} failed: {}", describe_record(first)),
                not_found: is_not_found(first),
            });
        }
        Ok(objects)
    }

    /// Runs a pipeline; `Ok(None)` when the server says the object does not exist.
    fn find(&self, pipeline: &[Command]) -> Result<Option<PsObject>, CallError> {
        match self.call(pipeline) {
            Ok(objects) => Ok(objects.into_iter().next()),
            Err(error) if error.not_found => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Runs each pipeline in order; stops at the first failure.
    fn run_all(&self, steps: &[Command]) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        for step in steps {
            self.call(std::slice::from_ref(step))?;
            done.push(step.name.clone());
        }
        Ok(done)
    }
}

/// Exchange reports a missing object as a ManagementObjectNotFoundException
/// (category `ObjectNotFound` in plain PowerShell).
fn is_not_found(record: &ErrorRecord) -> bool {
    // PowerShell files an unknown (or, under RBAC, forbidden) cmdlet under
    // the ObjectNotFound category too: that is a refusal, never "already
    // gone".
    if record
        .fully_qualified_error_id
        .contains("CommandNotFoundException")
    {
        return false;
    }
    record
        .fully_qualified_error_id
        .contains("ManagementObjectNotFound")
        || record.category.eq_ignore_ascii_case("ObjectNotFound")
        || record.message.contains("couldn't be found")
}

/// Appends the Changes fields the connector does not set (`known` lists
/// those it handles), so nothing is dropped silently.
fn with_ignored(message: String, changes: fields::Fields, known: &[&str]) -> String {
    let ignored: Vec<&str> = changes
        .0
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !known.iter().any(|k| k.eq_ignore_ascii_case(name)))
        .collect();
    if ignored.is_empty() {
        message
    } else {
        format!(
            "{message}; ignored fields this connector does not set: {}",
            ignored.join(", ")
        )
    }
}

/// The message of an order that ran `done` (cmdlet names).
fn ran(done: &[String]) -> String {
    if done.is_empty() {
        "nothing to change".to_owned()
    } else {
        format!("ran {}", done.join(", "))
    }
}

/// `ran ...` (or "nothing to change") followed by what the operator must
/// know beyond the calls (`notes`).
fn ran_with(done: &[String], notes: &[String]) -> String {
    if done.is_empty() && !notes.is_empty() {
        return notes.join("; ");
    }
    let mut message = ran(done);
    for note in notes {
        message.push_str("; ");
        message.push_str(note);
    }
    message
}
