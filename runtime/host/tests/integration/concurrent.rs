//! Two connections sharing ExportOutput and ExportCookies (Usercube's
//! layout), exporting at the same time in the agent: neither job may touch
//! the other's files, so neither cookie is ever rolled back (issue 12).

use std::path::Path;

use crate::common::component;
use idconn_host::agent::{Agent, JobKind, JobRequest, JobStatus};
use idconn_host::settings::{Secret, Settings};

const TOKEN: &str = "test-token-0123456789abcdef";

fn settings(dir: &Path) -> Settings {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replay/exchange-v1.json");
    std::fs::copy(fixture, dir.join("fixture.json")).unwrap();
    let exchange = component("exchange");
    let text = format!(
        r#"{{ "AgentToken": "{TOKEN}", "Connections": {{
            "OrgA": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": "{0}" }},
            "OrgB": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": "{0}" }}
        }} }}"#,
        exchange.display()
    );
    let file = dir.join("appsettings.agent.json");
    std::fs::write(&file, text).unwrap();
    Settings::load(&file).unwrap()
}

fn export(connection: &str) -> JobRequest {
    JobRequest {
        connection: connection.into(),
        kind: JobKind::Export,
        ignore_cookies: true,
        orders: None,
        results: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_exporting_at_once_never_roll_back_each_others_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::new(settings(dir.path()), &Secret::new(TOKEN)).unwrap();
    let cookies = dir.path().join("Work/ExportCookies");
    std::fs::create_dir_all(&cookies).unwrap();
    for round in 0..20 {
        // Each cookie starts the round as a marker: a job that staged the
        // other connection's cookie and committed it back would leave the
        // marker in place of the other job's fresh cookie.
        for conn in ["OrgA", "OrgB"] {
            std::fs::write(
                cookies.join(format!("{conn}_cookie.bin")),
                format!("round {round}"),
            )
            .unwrap();
        }
        let a = agent.submit(export("OrgA")).unwrap();
        let b = agent.submit(export("OrgB")).unwrap();
        agent.wait_idle().await;
        for (id, conn) in [(a, "OrgA"), (b, "OrgB")] {
            let job = agent.job(id).unwrap();
            assert_eq!(
                job.status,
                JobStatus::Succeeded,
                "round {round} {conn}: {job:?}"
            );
            let cookie =
                std::fs::read_to_string(cookies.join(format!("{conn}_cookie.bin"))).unwrap();
            assert!(
                cookie.starts_with("idconn-exchange-cookie "),
                "round {round}: {conn}'s cookie was rolled back to {cookie:?}"
            );
        }
    }
}
