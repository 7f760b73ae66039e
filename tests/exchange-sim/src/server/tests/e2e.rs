//! Our client against our server over real loopback HTTP.

use std::time::Duration;

use idconn_psrp::client::{Auth, Error, RunspacePool, Secret};
use idconn_psrp::clixml::{CollectionKind, PsObject, Value};
use idconn_psrp::state::PipelineState;
use idconn_psrp::Command;

use super::{client_config, start};
use crate::server::{AuthMode, ServerConfig};

async fn collect(
    pipeline: &mut idconn_psrp::client::Pipeline,
    max: usize,
) -> Result<(Vec<Value>, usize), Error> {
    let mut values = Vec::new();
    let mut batches = 0;
    while let Some(batch) = pipeline.next_batch(max).await? {
        assert!(
            !batch.is_empty() && batch.len() <= max,
            "batch of {}",
            batch.len()
        );
        batches += 1;
        values.extend(batch);
    }
    Ok((values, batches))
}

/// A pool on `server` and one pipeline of `command` on it.
async fn pool_running(
    server: &super::TestServer,
    command: Command,
) -> (RunspacePool, idconn_psrp::client::Pipeline) {
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let pipeline = pool.invoke(vec![command]).await.unwrap();
    (pool, pipeline)
}

#[tokio::test]
async fn opens_runs_and_deletes_the_shell() {
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    assert_eq!(pool.protocol_version().to_string(), "2.3");
    server.open_shells_become(1).await;
    let hashtable: Value = PsObject::new()
        .with_type_names(["System.Collections.Hashtable", "System.Object"])
        .with_dictionary(vec![("Add".into(), "smtp:a@contoso.com".into())])
        .into();
    let mut pipeline = pool
        .invoke(vec![Command::new("Get-Numbers")
            .param("Count", Value::I32(3))
            .switch("Status")
            .param("EmailAddresses", hashtable.clone())])
        .await
        .unwrap();
    let (values, _) = collect(&mut pipeline, 10).await.unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(
        values[2].as_object().unwrap().property("Index"),
        Some(&Value::I64(2))
    );
    assert_eq!(pipeline.state(), PipelineState::Completed);
    let invoked = server.backend.invocations.lock().unwrap()[0].clone();
    assert_eq!(invoked.0, "anonymous");
    let params = &invoked.1[0].parameters;
    assert_eq!(params[1].name.as_deref(), Some("Status"));
    assert_eq!(params[1].value, Value::Bool(true));
    assert_eq!(params[2].value, hashtable);
    pool.close().await.unwrap();
    server.open_shells_become(0).await;
}

#[tokio::test]
async fn streams_ten_thousand_objects_in_bounded_batches() {
    let server = start(ServerConfig::default()).await;
    let (pool, mut pipeline) = pool_running(
        &server,
        Command::new("Get-Numbers").param("Count", Value::I32(10_000)),
    )
    .await;
    let (values, batches) = collect(&mut pipeline, 100).await.unwrap();
    assert_eq!(values.len(), 10_000);
    assert!(batches >= 100);
    for (i, v) in values.iter().enumerate().step_by(997) {
        assert_eq!(
            v.as_object().unwrap().property("Index"),
            Some(&Value::I64(i as i64))
        );
    }
    pool.close().await.unwrap();
}

#[tokio::test]
async fn several_pipelines_run_one_after_another_on_one_pool() {
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    for n in [1, 50, 0, 7] {
        let mut pipeline = pool
            .invoke(vec![
                Command::new("Get-Numbers").param("Count", Value::I32(n))
            ])
            .await
            .unwrap();
        let (values, _) = collect(&mut pipeline, 1000).await.unwrap();
        assert_eq!(values.len(), n as usize);
    }
    pool.close().await.unwrap();
}

#[tokio::test]
async fn failed_pipeline_yields_its_output_then_the_error_record() {
    let server = start(ServerConfig::default()).await;
    let (pool, mut pipeline) = pool_running(&server, Command::new("Fail")).await;
    let first = pipeline.next_batch(10).await.unwrap().unwrap();
    assert_eq!(first, vec![Value::String("before".into())]);
    match pipeline.next_batch(10).await {
        Err(Error::Remote(record)) => {
            assert!(record.message.contains("couldn't be found"), "{record:?}");
            assert_eq!(record.category, "ObjectNotFound");
            assert_eq!(
                record.exception_type,
                "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
            );
            assert_eq!(record.target_name.as_deref(), Some("nobody"));
            assert!(record.fully_qualified_error_id.contains("GetMailbox"));
        }
        other => panic!("expected the remote error, got {other:?}"),
    }
    assert_eq!(pipeline.state(), PipelineState::Failed);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn non_terminating_errors_and_warnings_are_collected() {
    let server = start(ServerConfig::default()).await;
    let (pool, mut pipeline) = pool_running(&server, Command::new("Mixed")).await;
    let (values, _) = collect(&mut pipeline, 10).await.unwrap();
    assert_eq!(values, vec![Value::String("after".into())]);
    assert_eq!(pipeline.errors().len(), 1);
    assert_eq!(pipeline.errors()[0].message, "not found");
    assert_eq!(
        pipeline.warnings(),
        ["By default, only the first 1000 items are returned."]
    );
    pool.close().await.unwrap();
}

#[tokio::test]
async fn receives_again_after_timed_out() {
    let server = start(ServerConfig::default()).await;
    let mut config = client_config(&server.url);
    config.operation_timeout = Duration::from_millis(100);
    let pool = RunspacePool::open(config).await.unwrap();
    let mut pipeline = pool
        .invoke(vec![Command::new("Slow").param("Count", Value::I32(400))])
        .await
        .unwrap();
    let (values, _) = collect(&mut pipeline, 10).await.unwrap();
    assert_eq!(values, vec![Value::String("late".into())]);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn stop_terminates_a_running_pipeline_and_the_pool_goes_on() {
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let mut endless = pool.invoke(vec![Command::new("Endless")]).await.unwrap();
    assert!(!endless.next_batch(5).await.unwrap().unwrap().is_empty());
    endless.stop().await.unwrap();
    let mut pipeline = pool
        .invoke(vec![
            Command::new("Get-Numbers").param("Count", Value::I32(2))
        ])
        .await
        .unwrap();
    assert_eq!(collect(&mut pipeline, 10).await.unwrap().0.len(), 2);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn shell_limit_is_enforced_with_exchange_text() {
    let server = start(ServerConfig {
        max_shells_per_user: 2,
        ..ServerConfig::default()
    })
    .await;
    let a = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let b = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    match RunspacePool::open(client_config(&server.url)).await {
        Err(Error::Fault { message, .. }) => {
            assert!(
                message.contains("maximum number of connections allowed : 2"),
                "{message}"
            )
        }
        other => panic!("expected the quota fault, got {other:?}"),
    }
    a.close().await.unwrap();
    let c = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    b.close().await.unwrap();
    c.close().await.unwrap();
    server.open_shells_become(0).await;
}

#[tokio::test]
async fn dropping_a_pool_deletes_its_shell() {
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let pipeline = pool
        .invoke(vec![
            Command::new("Get-Numbers").param("Count", Value::I32(5))
        ])
        .await
        .unwrap();
    server.open_shells_become(1).await;
    drop(pipeline);
    drop(pool);
    server.open_shells_become(0).await;
}

#[tokio::test]
async fn basic_auth_is_required_and_refused_over_http_without_opt_in() {
    let server = start(ServerConfig {
        auth: AuthMode::Basic,
        ..ServerConfig::default()
    })
    .await;
    let basic = |password: &str| Auth::Basic {
        username: "admin".into(),
        password: Secret::new(password),
    };
    let mut config = client_config(&server.url);
    config.auth = basic("s3cret");
    match RunspacePool::open(config.clone()).await {
        Err(Error::Config(text)) => {
            assert!(text.contains("AllowUnencrypted"), "{text}");
            assert!(!text.contains("s3cret"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    config.allow_unencrypted = true;
    let pool = RunspacePool::open(config.clone()).await.unwrap();
    pool.close().await.unwrap();

    config.auth = basic("wrong");
    match RunspacePool::open(config.clone()).await {
        Err(Error::Auth(text)) => assert!(!text.contains("wrong"), "{text}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    config.auth = Auth::None;
    assert!(matches!(
        RunspacePool::open(config).await,
        Err(Error::Auth(_))
    ));
    assert_eq!(
        format!("{:?}", basic("s3cret")),
        "Basic { username: \"admin\", password: *** }"
    );
}

#[tokio::test]
async fn large_objects_span_fragments_and_envelopes() {
    let server = start(ServerConfig {
        max_envelope_size: 16_384,
        ..ServerConfig::default()
    })
    .await;
    let (pool, mut pipeline) = pool_running(
        &server,
        Command::new("Get-Wide").param("Count", Value::I32(20)),
    )
    .await;
    let (values, _) = collect(&mut pipeline, 7).await.unwrap();
    assert_eq!(values, (0..20).map(super::wide_object).collect::<Vec<_>>());
    // A parameter too large for one envelope travels with Send.
    let big: Value = PsObject::new()
        .with_type_names(["System.Object[]", "System.Array", "System.Object"])
        .with_list(
            CollectionKind::List,
            (0..40_000)
                .map(|i| Value::String(format!("item {i}")))
                .collect(),
        )
        .into();
    let mut pipeline = pool
        .invoke(vec![Command::new("Get-Numbers")
            .param("Count", Value::I32(1))
            .param("Big", big.clone())])
        .await
        .unwrap();
    assert_eq!(collect(&mut pipeline, 7).await.unwrap().0.len(), 1);
    let invoked = server.backend.invocations.lock().unwrap()[1].clone();
    assert_eq!(invoked.1[0].parameters[1].value, big);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn idle_shells_of_a_vanished_client_expire() {
    let server = start(ServerConfig {
        shell_idle_timeout: Duration::from_millis(300),
        max_shells_per_user: 1,
        ..ServerConfig::default()
    })
    .await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    // A client that dies sends no Delete.
    std::mem::forget(pool);
    server.open_shells_become(0).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    pool.close().await.unwrap();
}

#[tokio::test]
async fn sealing_work_seals_every_answer_and_sends_it_unsealed() {
    // The benchmark control: the same answers as without it, each also
    // sealed (and the result dropped) as a Kerberos server seals it.
    let server = start(ServerConfig {
        sealing_work: true,
        ..ServerConfig::default()
    })
    .await;
    let (pool, mut pipeline) = pool_running(
        &server,
        Command::new("Get-Wide").param("Count", Value::I32(200)),
    )
    .await;
    let (values, _) = collect(&mut pipeline, 50).await.unwrap();
    assert_eq!(values.len(), 200);
    pool.close().await.unwrap();
    let sealed = server
        .server
        .work_sealed
        .load(std::sync::atomic::Ordering::Relaxed);
    let answered = server
        .server
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(answered > 3, "{answered} requests");
    assert_eq!(sealed, answered, "every answer sealed once");
}
