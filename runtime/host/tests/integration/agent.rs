//! `idconn agent`: the API behind its token, jobs run and reported,
//! versions listed, activated and swapped on a file change, metrics, and a
//! drain that lets running jobs finish.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::sync::Arc;

use crate::common::component;
use idconn_host::agent::{self, Agent};
use idconn_host::settings::{Secret, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "test-token-0123456789abcdef";

fn settings(dir: &Path) -> Settings {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replay/exchange-v1.json");
    std::fs::copy(fixture, dir.join("fixture.json")).unwrap();
    std::fs::write(dir.join("empty.json"), r#"{ "Calls": [] }"#).unwrap();
    std::fs::write(
        dir.join("databases.json"),
        r#"{ "Calls": [ { "Pipeline": [ { "Command": "Get-MailboxDatabase" } ],
            "Output": [ { "Properties": { "Name": "DB01", "Server": "EX01" } } ] } ] }"#,
    )
    .unwrap();
    std::fs::copy(component("hostile"), dir.join("hostile.wasm")).unwrap();
    std::fs::copy(component("versioned_v1"), dir.join("watched.wasm")).unwrap();
    let text = format!(
        r#"{{ "AgentToken": "{TOKEN}", "Connections": {{
            "Exchange": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": "{}" }},
            "infinite-loop": {{ "AuthType": "Replay", "Server": "empty.json", "ComponentPath": "hostile.wasm",
                                "Limits": {{ "MaxGuestCpuSeconds": 1 }} }},
            "Watched": {{ "AuthType": "Replay", "Server": "databases.json", "ComponentPath": "watched.wasm" }}
        }} }}"#,
        component("exchange").display()
    );
    let file = dir.join("appsettings.agent.json");
    std::fs::write(&file, text).unwrap();
    Settings::load(&file).unwrap()
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        body: body.to_string(),
    }
}

struct Running {
    agent: Arc<Agent>,
    addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(dir: &Path) -> Running {
    let agent = Agent::new(settings(dir), &Secret::new(TOKEN)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(agent::http::serve(agent.clone(), listener, async {
        let _ = stopped.await;
    }));
    Running {
        agent,
        addr,
        _stop: stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path()).await;
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/jobs/1"),
        ("POST", "/jobs"),
        ("GET", "/components"),
    ] {
        let body = r#"{"connection":"Exchange","kind":"export"}"#;
        assert_eq!(
            request(a.addr, method, path, None, body).await.status,
            401,
            "{method} {path}"
        );
        let wrong = request(
            a.addr,
            method,
            path,
            Some("test-token-0123456789abcdeX"),
            body,
        )
        .await;
        assert_eq!(wrong.status, 401, "{method} {path}");
        assert!(wrong.body.contains("Bearer"), "{}", wrong.body);
    }
    assert!(a.agent.jobs().is_empty(), "no job ran without the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_job_runs_and_reports_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path()).await;
    let reply = request(
        a.addr,
        "POST",
        "/jobs",
        Some(TOKEN),
        r#"{"connection":"Exchange","kind":"export"}"#,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.json()["id"].as_u64().unwrap();
    a.agent.wait_idle().await;

    let job = request(a.addr, "GET", &format!("/jobs/{id}"), Some(TOKEN), "")
        .await
        .json();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["kind"], "export");
    assert_eq!(job["component"]["name"], "exchange");
    assert_eq!(job["component"]["version"], "0.4.0");
    assert!(
        job["summary"]["counts"]["mailbox"].as_u64().unwrap() > 0,
        "{job:#}"
    );
    assert!(
        job["summary"]["counts"]["database"].as_u64().is_some(),
        "{job:#}"
    );
    assert!(job["summary"]["complete"].as_bool().unwrap());
    assert!(!job["logs"].as_array().unwrap().is_empty(), "{job:#}");
    assert!(dir
        .path()
        .join("Temp/ExportOutput/Exchange_mailboxes.csv")
        .is_file());

    let check = request(
        a.addr,
        "POST",
        "/jobs",
        Some(TOKEN),
        r#"{"connection":"Watched","kind":"check"}"#,
    )
    .await;
    assert_eq!(check.status, 202, "{}", check.body);
    a.agent.wait_idle().await;
    let job = request(
        a.addr,
        "GET",
        &format!("/jobs/{}", check.json()["id"]),
        Some(TOKEN),
        "",
    )
    .await
    .json();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    // The fixture (contract 0.4.0) runs its own check; a 0.2.0
    // component's lack of one is tested in tests/e2e/tests/contract_versions.rs.
    assert!(
        job["summary"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("versioned 1.0.0: "),
        "{job:#}"
    );

    for (body, status) in [
        (r#"{"connection":"Nope","kind":"export"}"#, 404),
        (r#"{"connection":"Exchange","kind":"delete"}"#, 400),
        (r#"{"connection":"Exchange","kind":"fulfill"}"#, 400),
    ] {
        assert_eq!(
            request(a.addr, "POST", "/jobs", Some(TOKEN), body)
                .await
                .status,
            status,
            "{body}"
        );
    }
    assert_eq!(
        request(a.addr, "GET", "/jobs/999", Some(TOKEN), "")
            .await
            .status,
        404
    );

    let metrics = request(a.addr, "GET", "/metrics", Some(TOKEN), "").await;
    assert_eq!(metrics.status, 200);
    for line in [
        "idconn_jobs_total{kind=\"export\",status=\"succeeded\"} 1",
        "idconn_jobs_total{kind=\"check\",status=\"succeeded\"} 1",
        "idconn_job_duration_seconds_count{kind=\"export\"} 1",
        "# TYPE idconn_component_swaps_total counter",
        "# TYPE idconn_denied_cmdlets_total counter",
        "# TYPE idconn_limit_hits_total counter",
        "idconn_jobs_running 0",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "missing {line}:\n{}",
            metrics.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_listed_activated_and_swapped_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path()).await;
    let listed = request(a.addr, "GET", "/components", Some(TOKEN), "")
        .await
        .json();
    let watched = &listed["connections"]["Watched"];
    assert_eq!(watched[0]["version"], "1.0.0", "{listed:#}");
    let v1_sha = watched[0]["sha256"].as_str().unwrap().to_string();

    // A new version is deployed: the watcher's next poll swaps it in.
    std::fs::copy(component("versioned_v2"), dir.path().join("watched.wasm")).unwrap();
    let changes = a.agent.poll_components();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].1.as_ref().unwrap().contains("versioned 2.0.0"),
        "{changes:?}"
    );
    assert!(
        a.agent.poll_components().is_empty(),
        "an unchanged file is not offered again"
    );

    // A broken one is refused; 2.0.0 keeps serving.
    std::fs::copy(component("wrong_world"), dir.path().join("watched.wasm")).unwrap();
    let changes = a.agent.poll_components();
    assert!(
        changes[0]
            .1
            .as_ref()
            .unwrap_err()
            .contains("this idconn supports 0.2.0, 0.3.0 and 0.4.0"),
        "{changes:?}"
    );
    let active = |listed: &serde_json::Value| {
        listed["connections"]["Watched"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["active"] == true)
            .unwrap()["version"]
            .clone()
    };
    let listed = request(a.addr, "GET", "/components", Some(TOKEN), "")
        .await
        .json();
    assert_eq!(active(&listed), "2.0.0");

    // Rollback by digest.
    let body = format!(r#"{{"sha256":"{v1_sha}"}}"#);
    let reply = request(
        a.addr,
        "POST",
        "/components/Watched/activate",
        Some(TOKEN),
        &body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed = request(a.addr, "GET", "/components", Some(TOKEN), "")
        .await
        .json();
    assert_eq!(active(&listed), "1.0.0");
    let unknown = format!(r#"{{"sha256":"{}"}}"#, "0".repeat(64));
    assert_eq!(
        request(
            a.addr,
            "POST",
            "/components/Watched/activate",
            Some(TOKEN),
            &unknown
        )
        .await
        .status,
        404
    );

    let reply = request(
        a.addr,
        "POST",
        "/jobs",
        Some(TOKEN),
        r#"{"connection":"Watched","kind":"export"}"#,
    )
    .await;
    a.agent.wait_idle().await;
    let job = request(
        a.addr,
        "GET",
        &format!("/jobs/{}", reply.json()["id"]),
        Some(TOKEN),
        "",
    )
    .await
    .json();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["component"]["version"], "1.0.0");

    let metrics = request(a.addr, "GET", "/metrics", Some(TOKEN), "")
        .await
        .body;
    assert!(
        metrics.contains("idconn_component_rejected_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_connection_and_a_drain_lets_the_running_job_finish() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path()).await;
    let slow = r#"{"connection":"infinite-loop","kind":"export"}"#;
    let first = request(a.addr, "POST", "/jobs", Some(TOKEN), slow).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let id = first.json()["id"].as_u64().unwrap();
    // The job spins for its whole 1 s CPU budget: still running.
    let busy = request(a.addr, "POST", "/jobs", Some(TOKEN), slow).await;
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(
        busy.body.contains(&format!("running job {id}")),
        "{}",
        busy.body
    );

    a.agent.drain().await;
    let job = a.agent.job(id).unwrap();
    assert_eq!(job.status, agent::JobStatus::Failed);
    assert!(job.error.unwrap().contains("Limits.MaxGuestCpuSeconds"));
    let refused = request(
        a.addr,
        "POST",
        "/jobs",
        Some(TOKEN),
        r#"{"connection":"Exchange","kind":"check"}"#,
    )
    .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let metrics = request(a.addr, "GET", "/metrics", Some(TOKEN), "")
        .await
        .body;
    assert!(
        metrics.contains("idconn_jobs_total{kind=\"export\",status=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("idconn_limit_hits_total{limit=\"MaxGuestCpuSeconds\"}"),
        "{metrics}"
    );
}

#[test]
fn the_agent_refuses_remote_addresses_and_a_missing_token() {
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path());
    let file = dir.path().join("appsettings.agent.json");
    let e = agent::run(&file, None, "0.0.0.0:0".parse().unwrap(), false).unwrap_err();
    assert!(format!("{e:#}").contains("loopback only"), "{e:#}");

    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&format!(r#""AgentToken": "{TOKEN}","#), "");
    std::fs::write(&file, text).unwrap();
    let settings = Settings::load(&file).unwrap();
    let e = agent::token(&settings).unwrap_err();
    assert!(format!("{e:#}").contains("IDCONN_AGENT_TOKEN"), "{e:#}");
    let e = Agent::new(settings, &Secret::new("short")).err().unwrap();
    assert!(format!("{e:#}").contains("shorter than 16"), "{e:#}");
}

/// The binary: serves, and on SIGTERM waits for its running job, then
/// exits 0.
#[test]
fn sigterm_drains_the_running_job_and_exits_cleanly() {
    use std::io::{BufRead, Read};
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idconn"))
        .args(["agent", "--settings"])
        .arg(dir.path().join("appsettings.agent.json"))
        .args(["--listen", "127.0.0.1:0"])
        .env("IDCONN_AGENT_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = runtime.block_on(request(
        addr,
        "POST",
        "/jobs",
        Some(TOKEN),
        r#"{"connection":"infinite-loop","kind":"export"}"#,
    ));
    assert_eq!(reply.status, 202, "{}", reply.body);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    // It waited for the job, which ran to its CPU limit.
    assert!(stderr.contains("draining running jobs"), "{stderr}");
    assert!(stderr.contains("Limits.MaxGuestCpuSeconds"), "{stderr}");
    assert!(stderr.contains("drained; exiting"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fulfill_job_runs_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path()).await;
    let orders = dir.path().join("Orders");
    std::fs::create_dir_all(&orders).unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orders/01-new-hires.json");
    std::fs::copy(example, orders.join("01-new-hires.json")).unwrap();
    let results = dir.path().join("results.csv");
    let body = serde_json::json!({
        "connection": "Watched", "kind": "fulfill",
        "orders": orders, "results": results,
    })
    .to_string();
    let reply = request(a.addr, "POST", "/jobs", Some(TOKEN), &body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    a.agent.wait_idle().await;
    let job = request(
        a.addr,
        "GET",
        &format!("/jobs/{}", reply.json()["id"]),
        Some(TOKEN),
        "",
    )
    .await
    .json();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let count = job["summary"]["orders"].as_u64().unwrap();
    assert!(count > 0, "{job:#}");
    assert_eq!(job["summary"]["executed"], count, "{job:#}");
    let csv = std::fs::read_to_string(&results).unwrap();
    assert_eq!(csv.lines().count() as u64, count + 1, "{csv}");
    assert!(orders.join("Completed/01-new-hires.json").is_file());
}
