//! Helpers shared by the model tests: a small seeded organization and a
//! way to run a pipeline and split what it produced.
#![allow(dead_code)]
// Test helpers: a failed setup should stop the test loudly.
#![allow(clippy::unwrap_used)]

use exchange_sim::backend::{ExchangeBackend, PipelineEvent, SimErrorRecord};
use exchange_sim::exchange::rbac::UserStore;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::{collect, ModelFaults, OrgOptions, Organization};
use idconn_psrp::clixml::{PsObject, Value};
use idconn_psrp::{Command, Parameter};

pub fn options() -> OrgOptions {
    OrgOptions {
        users: UserStore::default_basic(),
        state_path: None,
        faults: ModelFaults::default(),
        server_name: "EXCH01".to_string(),
    }
}

pub fn org(mailboxes: u64) -> Organization {
    Organization::open(
        SeedSpec {
            mailboxes,
            databases: 3,
            seed: 7,
        },
        options(),
    )
    .unwrap()
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub output: Vec<Value>,
    pub errors: Vec<SimErrorRecord>,
    pub warnings: Vec<String>,
    pub failed: Option<SimErrorRecord>,
}

impl Outcome {
    pub fn objects(&self) -> Vec<&PsObject> {
        self.output.iter().filter_map(|v| v.as_object()).collect()
    }

    pub fn ok(self) -> Self {
        assert!(
            self.errors.is_empty() && self.failed.is_none(),
            "unexpected errors: {:?} {:?}",
            self.errors,
            self.failed
        );
        self
    }
}

pub fn run_as(org: &Organization, user: &str, commands: Vec<Command>) -> Outcome {
    let mut outcome = Outcome::default();
    for ev in collect(org.invoke(user, commands)) {
        match ev {
            PipelineEvent::Output(v) => outcome.output.push(v),
            PipelineEvent::Error(e) => outcome.errors.push(e),
            PipelineEvent::Warning(w) => outcome.warnings.push(w),
            PipelineEvent::Failed(e) => {
                assert!(outcome.failed.is_none(), "two terminating errors");
                outcome.failed = Some(e);
            }
        }
    }
    outcome
}

pub fn run(org: &Organization, commands: Vec<Command>) -> Outcome {
    run_as(org, "admin", commands)
}

pub fn cmd(name: &str) -> Command {
    Command::new(name)
}

pub fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

pub fn list(items: &[&str]) -> Value {
    Value::Object(Box::new(
        PsObject::new()
            .with_type_names(["System.Object[]", "System.Array", "System.Object"])
            .with_list(
                idconn_psrp::clixml::CollectionKind::List,
                items.iter().map(|s| text(s)).collect(),
            ),
    ))
}

pub fn hashtable(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(Box::new(
        PsObject::new()
            .with_type_names(["System.Collections.Hashtable", "System.Object"])
            .with_dictionary(entries.into_iter().map(|(k, v)| (text(k), v)).collect()),
    ))
}

pub fn positional(command: Command, value: Value) -> Command {
    let mut command = command;
    command.parameters.push(Parameter { name: None, value });
    command
}

pub fn prop<'a>(o: &'a PsObject, name: &str) -> &'a Value {
    o.property(name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

pub fn prop_str(o: &PsObject, name: &str) -> String {
    prop(o, name)
        .as_str()
        .unwrap_or_else(|| panic!("{name} is not a string: {:?}", prop(o, name)))
        .to_string()
}

/// The one mailbox `Get-Mailbox -Identity id` returns.
pub fn mailbox(org: &Organization, id: &str) -> PsObject {
    let out = run(org, vec![cmd("Get-Mailbox").param("Identity", text(id))]).ok();
    assert_eq!(out.output.len(), 1, "identity {id}");
    out.objects()[0].clone()
}
