//! Helpers of the fulfill end-to-end tests.
#![allow(dead_code)]

pub use std::fs;
pub use std::path::{Path, PathBuf};
pub use std::process::Output;

pub use idconn_e2e::{
    describe, next_second, read_csv, seeded_directory, users_without_mailbox, Agent, Row, SeedSpec,
    Simulator,
};
pub use serde_json::{json, Value};

pub const MAILBOX: &str = "MicrosoftExchange_Mailbox";
pub const DATABASE: &str = "MicrosoftExchange_Database";

pub fn spec() -> SeedSpec {
    SeedSpec {
        mailboxes: 20,
        databases: 2,
        seed: 11,
    }
}

/// A simulator seeded with [`spec`] and an agent on it as `login`.
pub fn start(login: &str) -> (Simulator, Agent) {
    let s = spec();
    let sim = Simulator::start([
        "--mailboxes".to_string(),
        s.mailboxes.to_string(),
        "--databases".to_string(),
        s.databases.to_string(),
        "--seed".to_string(),
        s.seed.to_string(),
        "--auth".to_string(),
        "basic".to_string(),
    ])
    .unwrap();
    let agent = Agent::new(sim.connection(login, login)).unwrap();
    (sim, agent)
}

/// An order in Usercube's shape.
pub fn order(id: &str, change: &str, entity: &str, changes: Value, resource: Value) -> Value {
    json!({
        "AssignedResourceTypeId": id,
        "ChangeType": change,
        "WorkflowInstanceId": "81",
        "Owner": {"Id": format!("9{id}"), "InternalDisplayName": "Test Owner"},
        "ResourceType": {
            "Id": "-41",
            "SourceEntityType": {"Id": "51", "Identifier": "Directory_User"},
            "TargetEntityType": {"Id": "70", "Identifier": entity},
            "Identifier": format!("{entity}_NominativeUser"),
        },
        "Changes": changes,
        "Resource": resource,
    })
}

pub fn write_orders(dir: &Path, name: &str, orders: &[Value]) {
    fs::create_dir_all(dir).unwrap();
    let body = json!({ "ProvisioningOrdersList": orders });
    fs::write(dir.join(name), serde_json::to_vec_pretty(&body).unwrap()).unwrap();
}

pub struct Fulfilled {
    pub out: Output,
    pub results: Vec<Row>,
}

impl Fulfilled {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn result(&self, id: &str) -> &Row {
        self.results
            .iter()
            .find(|r| r["AssignmentId"] == id)
            .unwrap_or_else(|| panic!("no result for order {id}: {:?}", self.results))
    }

    pub fn assert_executed(&self, id: &str) -> &Row {
        let row = self.result(id);
        assert_eq!(row["ProvisioningState"], "Executed", "order {id}: {row:?}");
        row
    }

    pub fn assert_errored(&self, id: &str, message: &str) -> &Row {
        let row = self.result(id);
        assert_eq!(row["ProvisioningState"], "Errored", "order {id}: {row:?}");
        assert!(
            row["Message"].contains(message),
            "order {id}: expected {message:?} in {:?}",
            row["Message"]
        );
        row
    }
}

pub fn orders_dir(agent: &Agent) -> PathBuf {
    agent.path().join("Orders")
}

pub fn results_file(agent: &Agent) -> PathBuf {
    agent.path().join("Results").join("results.csv")
}

/// `idconn fulfill` on the agent's orders folder; must exit 0.
pub fn fulfill(agent: &Agent) -> Fulfilled {
    let out = run_fulfill(agent);
    assert!(out.status.success(), "{}", describe(&out));
    let results = read_csv(&results_file(agent)).unwrap();
    Fulfilled { out, results }
}

pub fn run_fulfill(agent: &Agent) -> Output {
    let orders = orders_dir(agent);
    let results = results_file(agent);
    agent
        .idconn(
            "fulfill",
            [
                "--orders".as_ref(),
                orders.as_os_str(),
                "--results".as_ref(),
                results.as_os_str(),
            ],
        )
        .unwrap()
}

/// Waits for the next second (see [`next_second`]) and exports.
pub fn export_after_changes(agent: &Agent) {
    next_second();
    agent.export().unwrap();
}

pub fn by<'a>(rows: &'a [Row], column: &str, value: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r[column].eq_ignore_ascii_case(value))
}

pub fn changed(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["Command"],
                r["Guid"],
                r.get("Name").map_or("", |n| n)
            )
        })
        .collect()
}

pub fn addresses(row: &Row) -> Vec<String> {
    row["EmailAddresses"]
        .split(' ')
        .map(|a| a.replace("%20", " ").replace("%25", "%"))
        .collect()
}

/// Names of the seeded user mailboxes (not rooms, shared...) with a
/// secondary `smtp:` address, and their database names.
pub fn seeded_user_mailboxes() -> Vec<(String, Vec<String>, String)> {
    let dir = seeded_directory(spec());
    dir.users
        .values()
        .filter_map(|u| {
            let m = u.mailbox.as_ref()?;
            let db = dir.databases.get(&m.database)?.name.clone();
            let has_secondary = m.email_addresses.iter().any(|a| a.starts_with("smtp:"));
            (u.sam_account_name != "Administrator"
                && has_secondary
                && m.kind == exchange_sim::exchange::model::MailboxKind::User)
                .then(|| (u.sam_account_name.clone(), m.email_addresses.clone(), db))
        })
        .collect()
}
