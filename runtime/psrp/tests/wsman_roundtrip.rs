//! Our client's requests parse on our server side, and our server's
//! responses parse on our client side.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use idconn_psrp::clixml::Value;
use idconn_psrp::fragment::{Defragmenter, Fragmenter};
use idconn_psrp::message::{self, Destination, Message, MessageType};
use idconn_psrp::wsman::server::{self, RequestBody};
use idconn_psrp::wsman::{client, Fault, WsmanError};
use idconn_psrp::Command;
use uuid::Uuid;

fn ctx() -> client::RequestContext {
    client::RequestContext {
        to: "http://exch.contoso.com/PowerShell/?serializationLevel=Full".into(),
        resource_uri: "http://schemas.microsoft.com/powershell/Microsoft.Exchange".into(),
        max_envelope_size: 153600,
        operation_timeout: Duration::from_secs(20),
        locale: "en-US".into(),
        session_id: Uuid::new_v4(),
    }
}

#[test]
fn create_and_command_requests_parse_server_side() {
    let rpid = Uuid::new_v4();
    let mut fragmenter = Fragmenter::new();
    let mut creation = Vec::new();
    for m in [
        message::session_capability(Destination::Server, rpid, "2.3"),
        message::init_runspace_pool(rpid, None),
    ] {
        for f in fragmenter.fragment(&m.encode(false), 100_000) {
            f.encode_into(&mut creation);
        }
    }
    let request = client::create(&ctx(), rpid, "2.3", &creation);
    let parsed = server::parse_request(request.body.as_bytes()).unwrap();
    assert_eq!(parsed.option("protocolversion"), Some("2.3"));
    assert_eq!(parsed.max_envelope_size, Some(153600));
    assert_eq!(parsed.operation_timeout, Some(Duration::from_secs(20)));
    assert_eq!(
        parsed.resource_uri.as_deref(),
        Some("http://schemas.microsoft.com/powershell/Microsoft.Exchange")
    );
    let RequestBody::Create {
        creation_xml,
        shell_id,
    } = parsed.body
    else {
        panic!("not a create")
    };
    assert_eq!(shell_id.unwrap(), rpid.to_string().to_uppercase());
    let messages = Defragmenter::default().push(&creation_xml).unwrap();
    let capability = Message::decode(messages[0].clone()).unwrap();
    assert_eq!(
        message::parse_session_capability(&capability).unwrap(),
        "2.3"
    );
    assert_eq!(capability.rpid, rpid);

    let pid = Uuid::new_v4();
    let commands = vec![
        Command::new("Get-Mailbox")
            .param("ResultSize", "Unlimited".into())
            .switch("IgnoreDefaultScope"),
        Command::new("Select-Object").param(
            "Property",
            idconn_psrp::clixml::PsObject::new()
                .with_type_names(["System.Object[]", "System.Array", "System.Object"])
                .with_list(
                    idconn_psrp::clixml::CollectionKind::List,
                    vec!["Name".into(), "Guid".into()],
                )
                .into(),
        ),
    ];
    let create = message::create_pipeline(rpid, pid, &commands, "2.3");
    let mut args = Vec::new();
    for f in fragmenter.fragment(&create.encode(false), 1000) {
        f.encode_into(&mut args);
    }
    let request = client::command(&ctx(), "SHELL-1", pid, &args);
    let parsed = server::parse_request(request.body.as_bytes()).unwrap();
    assert_eq!(parsed.shell_id.as_deref(), Some("SHELL-1"));
    let RequestBody::Command {
        arguments,
        command_id,
    } = parsed.body
    else {
        panic!("not a command")
    };
    assert_eq!(command_id.unwrap(), pid.to_string().to_uppercase());
    let messages = Defragmenter::default().push(&arguments).unwrap();
    let m = Message::decode(messages[0].clone()).unwrap();
    assert_eq!(m.message_type, MessageType::CreatePipeline);
    assert_eq!(m.pid, pid);
    assert_eq!(message::parse_create_pipeline(&m).unwrap(), commands);
}

#[test]
fn receive_response_and_faults_parse_client_side() {
    let rpid = Uuid::new_v4();
    let pid = Uuid::new_v4();
    let mut builder = server::ReceiveResponseBuilder::new("uuid:1", Some("CMD-1"));
    let mut fragmenter = Fragmenter::new();
    let out = message::pipeline_output(rpid, pid, "<S>a&amp;b</S>".into());
    for f in fragmenter.fragment(&out.encode(true), 30) {
        builder.push_stream(&f.encode());
    }
    let xml = builder.finish(true);
    let root = client::parse_response(xml.as_bytes()).unwrap();
    let response = client::receive_response(&root).unwrap();
    assert!(response.command_state.unwrap().is_done());
    let mut defrag = Defragmenter::default();
    let mut messages = Vec::new();
    for s in &response.streams {
        assert_eq!(s.command_id.as_deref(), Some("CMD-1"));
        messages.extend(defrag.push(&s.data).unwrap());
    }
    let m = Message::decode(messages.remove(0)).unwrap();
    assert_eq!(
        idconn_psrp::clixml::from_bytes(&m.data).unwrap(),
        Value::String("a&b".into())
    );

    let fault = server::fault_response("uuid:2", &Fault::timed_out("EXCH01"));
    match client::parse_response(fault.as_bytes()) {
        Err(WsmanError::Fault(f)) => {
            assert!(f.is_timed_out());
            assert_eq!(f.code, Some(2150858793));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
}
