//! Server tests with a tiny canned backend, and end-to-end tests of
//! `idconn_psrp::client` against this server over loopback HTTP.

mod e2e;
mod faults;
mod options;
mod perf;
mod raw_http;
mod signal;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idconn_psrp::client::{Auth, ClientConfig};
use idconn_psrp::clixml::{PsObject, Value};
use idconn_psrp::Command;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::http::{run, Server};
use super::ServerConfig;
use crate::backend::{ExchangeBackend, PipelineEvent, PipelineRun, SimErrorRecord};

/// Pipelines by their first command's name:
/// `Get-Numbers -Count n` outputs n small objects; `Get-Wide -Count n`
/// outputs n objects of 180 properties; `Fail` outputs `before` then fails;
/// `Mixed` writes a warning, a non-terminating error and an output;
/// `Slow -Millis n` waits n ms before its output; `Endless` never ends.
#[derive(Default)]
pub(super) struct CannedBackend {
    pub(super) invocations: Mutex<Vec<(String, Vec<Command>)>>,
}

fn count_param(commands: &[Command]) -> u64 {
    commands[0]
        .parameters
        .iter()
        .find(|p| {
            p.name
                .as_deref()
                .is_some_and(|n| n.trim_start_matches('-').eq_ignore_ascii_case("Count"))
        })
        .and_then(|p| p.value.as_i64())
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

pub(super) fn sim_error(message: &str) -> SimErrorRecord {
    SimErrorRecord {
        message: message.into(),
        fully_qualified_error_id:
            "[Server=EXCH01] 5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox"
                .into(),
        exception_type: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
            .into(),
        category: "ObjectNotFound".into(),
        activity: "Get-Mailbox".into(),
        target_name: Some("nobody".into()),
    }
}

/// The 177 properties every wide object shares, built once: a model holds
/// its data in memory, so per-object formatting would measure the test,
/// not the protocol.
fn wide_template() -> &'static [(String, Value)] {
    static TEMPLATE: std::sync::OnceLock<Vec<(String, Value)>> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        (0..177)
            .map(|p| {
                (
                    format!("Property{p}"),
                    Value::String(format!("value {p} of a typical mailbox")),
                )
            })
            .collect()
    })
}

pub(super) fn wide_object(i: u64) -> Value {
    let mut object = PsObject::new()
        .with_type_names([
            "Microsoft.Exchange.Data.Directory.Management.Mailbox",
            "Microsoft.Exchange.Data.Directory.ADObject",
            "System.Object",
        ])
        .with_to_string(format!("user{i}"))
        .with_adapted("Name", format!("user{i}"))
        .with_adapted(
            "Guid",
            Value::Guid(format!("00000000-0000-0000-0000-{i:012}")),
        )
        .with_adapted(
            "WhenChangedUTC",
            Value::DateTime("2022-10-31T01:01:36Z".into()),
        );
    object.adapted.extend_from_slice(wide_template());
    object.into()
}

struct Scripted {
    events: std::collections::VecDeque<PipelineEvent>,
    generate: Option<(u64, u64, bool)>,
    delay: Option<Duration>,
}

impl PipelineRun for Scripted {
    fn next_event(&mut self) -> Option<PipelineEvent> {
        if let Some(delay) = self.delay.take() {
            std::thread::sleep(delay);
        }
        if let Some((next, end, wide)) = &mut self.generate {
            if *next < *end {
                let i = *next;
                *next += 1;
                return Some(PipelineEvent::Output(if *wide {
                    wide_object(i)
                } else {
                    PsObject::new()
                        .with_type_names([
                            "System.Management.Automation.PSCustomObject",
                            "System.Object",
                        ])
                        .with_extended("Index", Value::I64(i as i64))
                        .into()
                }));
            }
        }
        self.events.pop_front()
    }
}

impl ExchangeBackend for CannedBackend {
    fn authenticate_basic(&self, user: &str, password: &str) -> Option<String> {
        (user.eq_ignore_ascii_case("admin") && password == "s3cret").then(|| "admin".to_string())
    }

    fn invoke(&self, user: &str, commands: Vec<Command>) -> Box<dyn PipelineRun> {
        self.invocations
            .lock()
            .unwrap()
            .push((user.to_string(), commands.clone()));
        let mut run = Scripted {
            events: Default::default(),
            generate: None,
            delay: None,
        };
        match commands[0].name.as_str() {
            "Get-Numbers" => run.generate = Some((0, count_param(&commands), false)),
            "Get-Wide" => run.generate = Some((0, count_param(&commands), true)),
            "Endless" => run.generate = Some((0, u64::MAX, false)),
            "Fail" => {
                run.events.push_back(PipelineEvent::Output("before".into()));
                run.events.push_back(PipelineEvent::Failed(sim_error("The operation couldn't be performed because object 'nobody' couldn't be found on 'dc01.contoso.com'.")));
            }
            "Mixed" => {
                run.events.push_back(PipelineEvent::Warning(
                    "By default, only the first 1000 items are returned.".into(),
                ));
                run.events
                    .push_back(PipelineEvent::Error(sim_error("not found")));
                run.events.push_back(PipelineEvent::Output("after".into()));
            }
            "Slow" => {
                let millis = count_param(&commands);
                run.delay = Some(Duration::from_millis(millis));
                run.events.push_back(PipelineEvent::Output("late".into()));
            }
            _ => run
                .events
                .push_back(PipelineEvent::Failed(sim_error("unknown command"))),
        }
        Box::new(run)
    }
}

pub(super) struct TestServer {
    pub(super) url: String,
    pub(super) server: Arc<Server>,
    pub(super) backend: Arc<CannedBackend>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) async fn start(config: ServerConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/PowerShell/?serializationLevel=Full",
        listener.local_addr().unwrap()
    );
    let backend = Arc::new(CannedBackend::default());
    let server = Arc::new(Server::new(backend.clone(), config));
    let task = tokio::spawn(run(listener, server.clone(), std::future::pending()));
    TestServer {
        url,
        server,
        backend,
        task,
    }
}

pub(super) fn client_config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url, Auth::None);
    config.operation_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(30);
    config
}

impl TestServer {
    /// Waits (bounded) until the server holds `n` shells.
    pub(super) async fn open_shells_become(&self, n: usize) {
        let mut watch = self.server.shells.watch();
        tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|count| *count == n))
            .await
            .expect("shell count did not reach the expected value")
            .unwrap();
    }
}
