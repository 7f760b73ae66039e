//! Helpers of the fulfill end-to-end tests.
#![allow(dead_code)]

pub use std::fs;
pub use std::path::{Path, PathBuf};
pub use std::process::Output;

#[allow(unused_imports)]
pub use idconn_e2e::{
    describe, next_second, read_csv, seeded_directory, users_without_mailbox, Agent, Row, SeedSpec,
    Simulator,
};
pub use serde_json::{json, Value};
pub use std::sync::atomic::{AtomicU64, Ordering};
pub use std::time::{Duration, Instant};

pub use idconn_e2e::Directory;

pub const MAILBOX: &str = "MicrosoftExchange_Mailbox";
pub const DATABASE: &str = "MicrosoftExchange_Database";

pub fn spec() -> SeedSpec {
    SeedSpec {
        mailboxes: 20,
        databases: 2,
        seed: 11,
    }
}

/// A simulator seeded with [`spec`] and an agent on it as `login`. Moves
/// complete at the simulator's next pipeline (`--move-seconds 0`), so the
/// export after a move order shows it; [`start_with`] for real move times.
pub fn start(login: &str) -> (Simulator, Agent) {
    start_with(login, &["--move-seconds", "0"])
}

/// [`start`] with more simulator arguments (e.g. `--move-seconds 3`).
pub fn start_with(login: &str, extra: &[&str]) -> (Simulator, Agent) {
    let s = spec();
    let mut args = vec![
        "--mailboxes".to_string(),
        s.mailboxes.to_string(),
        "--databases".to_string(),
        s.databases.to_string(),
        "--seed".to_string(),
        s.seed.to_string(),
        "--auth".to_string(),
        "basic".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let sim = Simulator::start(args).unwrap();
    let agent = Agent::new(sim.connection(login, login)).unwrap();
    (sim, agent)
}

/// A simulator serving `dir` (through a `--state` file in `state_dir`) and
/// an agent on it as admin.
pub fn start_from(dir: &Directory, state_dir: &Path) -> (Simulator, Agent) {
    let path = state_dir.join("state.json");
    exchange_sim::exchange::state::save(&path, dir).unwrap();
    let sim = Simulator::start([
        "--auth".as_ref(),
        "basic".as_ref(),
        "--state".as_ref(),
        path.as_os_str(),
    ])
    .unwrap();
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    (sim, agent)
}

/// Writes `orders` as one file and fulfills them.
pub fn fulfill_orders(agent: &Agent, orders: &[Value]) -> Fulfilled {
    let dir = orders_dir(agent);
    let name = format!("{}.json", NEXT_FILE.fetch_add(1, Ordering::Relaxed));
    write_orders(&dir, &name, orders);
    fulfill(agent)
}

static NEXT_FILE: AtomicU64 = AtomicU64::new(1);

/// Exports (incrementally) until `found` picks a row, each export in a
/// later second than the one before, for at most `within`; panics with
/// `what` after that.
pub fn export_until(
    agent: &Agent,
    within: Duration,
    what: &str,
    found: impl Fn(&[Row]) -> Option<Row>,
) -> Row {
    let deadline = Instant::now() + within;
    loop {
        export_after_changes(agent);
        let rows = agent.mailboxes().unwrap();
        if let Some(row) = found(&rows) {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "no export within {within:?} shows {what}; last rows: {:?}",
            changed(&rows)
        );
    }
}

/// Runs the orders again and again until `done` accepts the results, for at
/// most `within`.
pub fn fulfill_until(
    agent: &Agent,
    orders: &[Value],
    within: Duration,
    what: &str,
    done: impl Fn(&Fulfilled) -> bool,
) -> Fulfilled {
    let deadline = Instant::now() + within;
    loop {
        let run = fulfill_orders(agent, orders);
        if done(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "the orders did not reach {what} within {within:?}; last results: {:?}",
            run.results
        );
        next_second();
    }
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
/// secondary `smtp:` address besides the email address policy's, their
/// addresses and their database names.
pub fn seeded_user_mailboxes() -> Vec<(String, Vec<String>, String)> {
    let dir = seeded_directory(spec());
    dir.users
        .values()
        .filter_map(|u| {
            let m = u.mailbox.as_ref()?;
            let db = dir.databases.get(&m.database)?.name.clone();
            // A secondary other than the policy's `alias@contoso.com`.
            let policy = format!("smtp:{}@contoso.com", m.alias);
            let has_secondary = m
                .email_addresses
                .iter()
                .any(|a| a.starts_with("smtp:") && !a.eq_ignore_ascii_case(&policy));
            (u.sam_account_name != "Administrator"
                && has_secondary
                && m.kind == exchange_sim::exchange::model::MailboxKind::User)
                .then(|| (u.sam_account_name.clone(), m.email_addresses.clone(), db))
        })
        .collect()
}
