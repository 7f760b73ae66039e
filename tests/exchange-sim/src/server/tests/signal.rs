//! A Signal arriving while another connection's Receive waits for output
//! is handled at once, and that Receive ends with the Stopped state.

use std::time::Duration;

use idconn_psrp::client::RunspacePool;
use idconn_psrp::clixml::Value;
use idconn_psrp::fragment::{Defragmenter, Fragmenter};
use idconn_psrp::message::{self, Message, MessageType};
use idconn_psrp::wsman::client::{self as ws, RequestContext};
use idconn_psrp::wsman::SIGNAL_PS_CTRL_C;
use idconn_psrp::Command;
use uuid::Uuid;

use super::raw_http::exchange;
use super::{client_config, start};
use crate::server::ServerConfig;

fn post(url: &str, body: &str) -> String {
    let path = url.splitn(4, '/').nth(3).unwrap_or_default();
    format!(
        "POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn soap_body(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

#[tokio::test]
async fn signal_interrupts_a_waiting_receive() {
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let ctx = RequestContext {
        to: server.url.clone(),
        resource_uri: "http://schemas.microsoft.com/powershell/Microsoft.Exchange".into(),
        max_envelope_size: 512_000,
        operation_timeout: Duration::from_secs(20),
        locale: "en-US".into(),
        session_id: Uuid::new_v4(),
    };
    // Started by hand: our client's pipeline would Receive on its own.
    // Output only after 2.5 s: a Receive waits, the Signal must not.
    let pid = Uuid::new_v4();
    let create = message::create_pipeline(
        Uuid::new_v4(),
        pid,
        &[Command::new("Slow").param("Count", Value::I32(2500))],
        "2.3",
    );
    let mut arguments = Vec::new();
    for fragment in Fragmenter::new().fragment(&create.encode(false), 100_000) {
        fragment.encode_into(&mut arguments);
    }
    let started = exchange(
        &server.url,
        &post(
            &server.url,
            &ws::command(&ctx, pool.shell_id(), pid, &arguments).body,
        ),
    )
    .await;
    let command_id =
        ws::command_id(&ws::parse_response(soap_body(&started).as_bytes()).unwrap()).unwrap();
    let receive = post(
        &server.url,
        &ws::receive(&ctx, pool.shell_id(), Some(&command_id)).body,
    );
    let signal = post(
        &server.url,
        &ws::signal(&ctx, pool.shell_id(), Some(&command_id), SIGNAL_PS_CTRL_C).body,
    );
    let url = server.url.clone();
    let waiting = tokio::spawn(async move { exchange(&url, &receive).await });
    let mut waiters = server.server.waiting_receives.subscribe();
    tokio::time::timeout(Duration::from_secs(5), waiters.wait_for(|n| *n == 1))
        .await
        .expect("the Receive never started waiting")
        .unwrap();
    let both = async {
        let signalled = exchange(&server.url, &signal).await;
        (signalled, waiting.await.unwrap())
    };
    let (signalled, received) = tokio::time::timeout(Duration::from_millis(1500), both)
        .await
        .expect("the Signal and the Receive must not wait for the pipeline's output");
    assert!(signalled.starts_with("HTTP/1.1 200"), "{signalled}");
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");

    let root = ws::parse_response(soap_body(&received).as_bytes()).unwrap();
    let response = ws::receive_response(&root).unwrap();
    assert!(response.command_state.unwrap().is_done());
    let mut defragmenter = Defragmenter::default();
    let mut states = Vec::new();
    for stream in response.streams {
        for bytes in defragmenter.push(&stream.data).unwrap() {
            let m = Message::decode(bytes).unwrap();
            if m.message_type == MessageType::PipelineState {
                states.push(message::parse_pipeline_state(&m).unwrap().state);
            }
        }
    }
    assert_eq!(states, vec![3]);
    pool.close().await.unwrap();
}
