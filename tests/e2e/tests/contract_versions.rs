//! Contract versions from outside: the 0.2.0 and 0.3.0 Exchange components
//! committed at runtime/host/tests/fixtures (never rebuilt) run unchanged
//! against the simulator, the 0.3.0 one writing what today's writes, and
//! the approval rule holds for them: a write cmdlet the 0.2.0 component
//! declares but the operator did not approve never runs.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;
use idconn_e2e::workspace_root;

fn frozen() -> PathBuf {
    workspace_root().join("runtime/host/tests/fixtures/exchange-0.2.0.wasm")
}

/// The Exchange component as built for contract 0.3.0 (values as a list of
/// cell variants), committed and never rebuilt.
fn frozen_0_3_0() -> PathBuf {
    workspace_root().join("runtime/host/tests/fixtures/exchange-0.3.0.wasm")
}

/// The lines of an export's CSV, sorted: pipelines run in parallel, so
/// rows may come in another order from one run to the next.
fn sorted_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The same server exported by the 0.3.0 build of the Exchange component
/// and by today's 0.4.0 build: the contract changed how values cross into
/// the sandbox, and nothing else, so the CSVs are the same line for line.
#[test]
fn the_0_3_0_and_0_4_0_exchange_components_write_the_same_csvs() {
    let (sim, _) = start("admin");
    let mut csvs = Vec::new();
    for (component, contract) in [
        (frozen_0_3_0(), "0.3.0"),
        (idconn_e2e::exchange_component(), "0.4.0"),
    ] {
        let inspect = idconn_e2e::run_idconn(["inspect".as_ref(), component.as_os_str()]).unwrap();
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(text.contains(&format!("contract:  {contract}")), "{text}");
        let mut connection = sim.connection("admin", "admin");
        connection["ComponentPath"] = json!(component);
        let agent = Agent::new(connection).unwrap();
        let out = agent.export().unwrap();
        assert!(out.status.success(), "{contract}: {}", describe(&out));
        let dir = agent.export_output();
        let files = ["Exchange_mailboxes.csv", "Exchange_databases.csv"];
        csvs.push(files.map(|f| sorted_lines(&dir.join(f))));
    }
    let [mailboxes, databases] = &csvs[0];
    assert!(mailboxes.len() > 10, "{} mailbox lines", mailboxes.len());
    assert!(databases.len() > 1, "{} database lines", databases.len());
    assert!(csvs[0] == csvs[1], "the two builds' CSVs differ");
}

/// The simulator's connection running the frozen 0.2.0 component.
fn frozen_agent(sim: &Simulator) -> Agent {
    let mut connection = sim.connection("admin", "admin");
    connection["ComponentPath"] = json!(frozen());
    Agent::new(connection).unwrap()
}

#[test]
fn the_frozen_0_2_0_component_inspects_exports_and_checks() {
    let inspect = idconn_e2e::run_idconn(["inspect".as_ref(), frozen().as_os_str()]).unwrap();
    assert!(inspect.status.success(), "{}", describe(&inspect));
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("contract:  0.2.0"), "{text}");
    assert!(
        text.contains("world:     idconn:connector/connector@0.2.0"),
        "{text}"
    );

    let (sim, _) = start("admin");
    let agent = frozen_agent(&sim);
    let out = agent.export().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mailboxes = agent.mailboxes().unwrap().len();
    let databases = agent.databases().unwrap().len();
    assert!(mailboxes > 0 && databases > 0);
    // Counts keyed by entity kind: the 0.2.0 summary's, named by the
    // 0.2.0 bindings.
    assert!(
        stdout.contains(&format!("{mailboxes} mailbox, {databases} database;")),
        "{stdout}"
    );

    // 0.2.0 has no check export: the host opens and closes a session and
    // says so.
    let check = agent.idconn("check", std::iter::empty::<&str>()).unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("the component's contract (0.2.0) has no check"),
        "{text}"
    );
}

#[test]
fn a_declared_write_cmdlet_the_operator_did_not_approve_is_denied_and_audited() {
    let (sim, _) = start("admin");
    let mut connection = sim.connection("admin", "admin");
    // The component declares Enable-Mailbox for fulfill; nobody approved it.
    connection.as_object_mut().unwrap().remove("Grants");
    connection["ComponentPath"] = json!(frozen());
    let agent = Agent::new(connection).unwrap();
    let new_user = users_without_mailbox(spec())[0].clone();
    let run = fulfill_orders(
        &agent,
        &[order(
            "1",
            "Added",
            MAILBOX,
            json!({ "SamAccountName": new_user, "Database": {"Name": "DB01"} }),
            json!({}),
        )],
    );
    let row = run.result("1");
    assert_eq!(row["ProvisioningState"], "Errored", "{row:?}");
    assert!(
        row["Message"].contains("not approved by the operator"),
        "{row:?}"
    );
    // The audit line (target `audit`; the CLI's format omits targets):
    // the refusal with the connection, the component's digest and the cmdlet.
    let log = String::from_utf8_lossy(&run.out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("WARN denied: cmdlet 'Enable-Mailbox'")
                && l.contains("component=")
                && l.contains("operation=\"fulfill\"")),
        "no audit line in\n{log}"
    );
    // Nothing reached the server: the user still has no mailbox.
    agent.export().unwrap();
    let rows = agent.mailboxes().unwrap();
    assert!(
        !rows.iter().any(|r| r["SamAccountName"] == new_user),
        "{new_user} got a mailbox"
    );
}

/// A minimal HTTP/1.1 request to the agent: status and JSON body.
fn agent_call(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Runs an export job in the agent and waits for its end: the job.
fn agent_export(addr: &str, token: &str, connection: &str) -> Value {
    let (status, body) = agent_call(
        addr,
        token,
        "POST",
        "/jobs",
        Some(json!({"connection": connection, "kind": "export", "ignoreCookies": true})),
    );
    assert_eq!(status, 202, "{body}");
    let id = match &body["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, job) = agent_call(addr, token, "GET", &format!("/jobs/{id}"), None);
        assert_eq!(status, 200, "{job}");
        if job["status"] != "running" && job["status"] != "queued" {
            return job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never ended: {job}"
        );
        // Polling the agent's API: the job's end is not pushed anywhere.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Issue 15's check from outside: one `idconn agent` runs the frozen 0.2.0
/// Exchange component and today's one against the simulator, and a
/// connection hot-swaps between them (a new file, then a rollback through
/// the API).
#[test]
fn one_agent_exports_with_0_2_0_and_today_and_hot_swaps_between_them() {
    let (sim, _) = start("admin");
    let dir = tempfile::tempdir().unwrap();
    let current = workspace_root().join("components/target/wasm32-wasip2/release/exchange.wasm");
    assert!(current.is_file(), "build the components first (just build)");
    let swap = dir.path().join("swap.wasm");
    std::fs::copy(&current, &swap).unwrap();
    let sha = |p: &std::path::Path| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    let (frozen_sha, current_sha) = (sha(&frozen()), sha(&current));
    let token = "agent-token-contract-versions-0123";
    let mut old = sim.connection("admin", "admin");
    old["ComponentPath"] = json!(frozen());
    let mut new = sim.connection("admin", "admin");
    new["ComponentPath"] = json!(swap);
    let settings = dir.path().join("appsettings.agent.json");
    std::fs::write(
        &settings,
        json!({"AgentToken": token, "TempFolderPath": "Temp", "WorkFolderPath": "Work",
               "Connections": {"Old": old, "New": new}})
        .to_string(),
    )
    .unwrap();
    let mut agent = std::process::Command::new(idconn_e2e::binary("idconn").unwrap())
        .args(["agent", "--settings"])
        .arg(&settings)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("IDCONN_AGENT_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(agent.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let addr = first.trim().rsplit("http://").next().unwrap().to_string();

    let expected = sim_counts(&sim);
    for (connection, sha) in [("Old", &frozen_sha), ("New", &current_sha)] {
        let job = agent_export(&addr, token, connection);
        assert_eq!(job["status"], "succeeded", "{connection}: {job}");
        assert_eq!(&job["component"]["sha256"], sha.as_str(), "{job}");
        assert_eq!(job["summary"]["counts"], expected, "{connection}: {job}");
    }

    // Hot swap: the 0.2.0 file replaces today's under New.
    std::fs::copy(frozen(), &swap).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, components) = agent_call(&addr, token, "GET", "/components", None);
        if components.to_string().matches(frozen_sha.as_str()).count() >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no swap: {components}"
        );
        // The agent polls component files once a second.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let job = agent_export(&addr, token, "New");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["component"]["sha256"], frozen_sha.as_str(), "{job}");
    assert_eq!(job["summary"]["counts"], expected, "{job}");

    // And back: a rollback to today's version through the API.
    let (status, body) = agent_call(
        &addr,
        token,
        "POST",
        "/components/New/activate",
        Some(json!({"sha256": current_sha})),
    );
    assert_eq!(status, 200, "{body}");
    let job = agent_export(&addr, token, "New");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["component"]["sha256"], current_sha.as_str(), "{job}");

    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// What an export of the simulator counts, per entity kind.
fn sim_counts(sim: &Simulator) -> Value {
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    let out = agent.export().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    json!({"mailbox": agent.mailboxes().unwrap().len(), "database": agent.databases().unwrap().len()})
}
