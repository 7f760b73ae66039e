//! The pypsrp recordings (real Windows PowerShell 5.1 servers, protocol
//! 2.1-2.3): every server message decodes with our client-side parsers,
//! every client message with our server-side parsers, and our own requests
//! are structurally equivalent to pypsrp's.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use idconn_psrp::clixml::{self, Value};
use idconn_psrp::fragment::{Defragmenter, Fragment, Fragmenter};
use idconn_psrp::message::{self, Destination, Message, MessageError, MessageType};
use idconn_psrp::state::ProtocolVersion;
use idconn_psrp::wsman::client::{self as ws, RequestContext};
use idconn_psrp::wsman::server::{self as srv, RequestBody};
use idconn_psrp::wsman::xml::{self, Element};
use idconn_psrp::wsman::{Fault, WsmanError};
use idconn_psrp::Command;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

#[derive(Deserialize)]
struct Exchange {
    request: Option<String>,
    response: Option<String>,
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/pypsrp")
}

fn load(name: &str) -> Recording {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn recordings() -> Vec<(String, Recording)> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("the pypsrp vectors directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("test_") && n.ends_with(".yml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "expected the pypsrp recordings, found {names:?}"
    );
    names.into_iter().map(|n| (n.clone(), load(&n))).collect()
}

#[derive(Default)]
struct Decoded {
    server: Vec<Message>,
    client: Vec<Message>,
    faults: Vec<Fault>,
    server_fragments: usize,
    client_fragments: usize,
    requests: Vec<srv::Request>,
}

fn decode(recording: &Recording) -> Decoded {
    let mut out = Decoded::default();
    let mut from_server = Defragmenter::default();
    let mut from_client = Defragmenter::default();
    for exchange in &recording.messages {
        if let Some(request) = &exchange.request {
            let parsed =
                srv::parse_request(request.as_bytes()).expect("our server parses pypsrp's request");
            let payloads: Vec<Vec<u8>> = match &parsed.body {
                RequestBody::Create { creation_xml, .. } => vec![creation_xml.clone()],
                RequestBody::Command { arguments, .. } => vec![arguments.clone()],
                RequestBody::Send { streams, .. } => {
                    streams.iter().map(|(_, d)| d.clone()).collect()
                }
                _ => Vec::new(),
            };
            for payload in payloads {
                out.client_fragments += Fragment::decode_all(&payload).unwrap().len();
                for bytes in from_client.push(&payload).unwrap() {
                    out.client.push(Message::decode(bytes).unwrap());
                }
            }
            out.requests.push(parsed);
        }
        let Some(response) = &exchange.response else {
            continue;
        };
        match ws::parse_response(response.as_bytes()) {
            Ok(root) => {
                if let Ok(received) = ws::receive_response(&root) {
                    for stream in received.streams {
                        out.server_fragments += Fragment::decode_all(&stream.data).unwrap().len();
                        for bytes in from_server.push(&stream.data).unwrap() {
                            out.server.push(Message::decode(bytes).unwrap());
                        }
                    }
                }
            }
            Err(WsmanError::Fault(fault)) => out.faults.push(*fault),
            Err(e) => panic!("response does not parse: {e}"),
        }
    }
    out
}

/// A SecureString is refused by design (this codec never carries secrets);
/// any other failure is a bug.
fn tolerated(result: Result<(), MessageError>, what: &str) {
    if let Err(e) = result {
        assert!(e.to_string().contains("SecureString"), "{what}: {e}");
    }
}

fn check_server_message(m: &Message) -> Result<(), MessageError> {
    assert_eq!(m.destination, Destination::Client);
    match m.message_type {
        MessageType::SessionCapability => {
            ProtocolVersion::negotiate(&message::parse_session_capability(m)?).unwrap();
        }
        MessageType::RunspacePoolState => drop(message::parse_runspace_pool_state(m)?),
        MessageType::PipelineState => drop(message::parse_pipeline_state(m)?),
        MessageType::ErrorRecord => drop(message::parse_error_record(m)?),
        MessageType::ProgressRecord => drop(message::parse_progress_record(m)?),
        MessageType::WarningRecord
        | MessageType::VerboseRecord
        | MessageType::DebugRecord
        | MessageType::InformationRecord => drop(message::parse_informational_record(m)?),
        other => {
            assert!(
                !matches!(other, MessageType::Unknown(_)),
                "unknown type {other:?}"
            );
            clixml::from_bytes(&m.data).map_err(|e| MessageError::Clixml {
                message_type: other,
                detail: e.to_string(),
            })?;
        }
    }
    Ok(())
}

#[test]
fn every_recorded_message_decodes_both_ways() {
    let mut totals = BTreeMap::new();
    for (name, recording) in recordings() {
        let decoded = decode(&recording);
        for m in &decoded.server {
            *totals.entry(format!("{:?}", m.message_type)).or_insert(0) += 1;
            tolerated(
                check_server_message(m),
                &format!("{name} {:?}", m.message_type),
            );
        }
        for m in &decoded.client {
            assert_eq!(m.destination, Destination::Server, "{name}");
            let result = match m.message_type {
                _ if m.data.is_empty() => Ok(()),
                MessageType::SessionCapability => message::parse_session_capability(m).map(drop),
                MessageType::CreatePipeline => message::parse_create_pipeline(m).map(drop),
                other => clixml::from_bytes(&m.data)
                    .map(drop)
                    .map_err(|e| MessageError::Clixml {
                        message_type: other,
                        detail: e.to_string(),
                    }),
            };
            tolerated(result, &format!("{name} client {:?}", m.message_type));
        }
    }
    for kind in [
        "SessionCapability",
        "ApplicationPrivateData",
        "RunspacePoolState",
        "PipelineOutput",
        "PipelineState",
        "ErrorRecord",
    ] {
        assert!(
            totals.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in the recordings: {totals:?}"
        );
    }
}

fn outputs(decoded: &Decoded) -> Vec<Value> {
    decoded
        .server
        .iter()
        .filter(|m| m.message_type == MessageType::PipelineOutput)
        .map(|m| clixml::from_bytes(&m.data).unwrap())
        .collect()
}

fn final_pipeline_states(decoded: &Decoded) -> Vec<message::PipelineStateInfo> {
    decoded
        .server
        .iter()
        .filter(|m| m.message_type == MessageType::PipelineState)
        .map(|m| message::parse_pipeline_state(m).unwrap())
        .collect()
}

#[test]
fn open_runspace_reaches_opened() {
    let decoded = decode(&load("test_psrp_open_runspace.yml"));
    let states: Vec<i32> = decoded
        .server
        .iter()
        .filter(|m| m.message_type == MessageType::RunspacePoolState)
        .map(|m| message::parse_runspace_pool_state(m).unwrap().state)
        .collect();
    assert_eq!(states.first(), Some(&2));
    let capability = decoded
        .server
        .iter()
        .find(|m| m.message_type == MessageType::SessionCapability)
        .unwrap();
    assert_eq!(
        message::parse_session_capability(capability).unwrap(),
        "2.3"
    );
}

#[test]
fn with_no_history_outputs_one_and_two() {
    let decoded = decode(&load("test_psrp_with_no_history.yml"));
    assert_eq!(&outputs(&decoded)[..2], &[Value::I32(1), Value::I32(2)]);
    assert!(final_pipeline_states(&decoded).iter().all(|s| s.state == 4));
}

#[test]
fn error_failed_carries_its_error_record() {
    let decoded = decode(&load("test_psrp_error_failed.yml"));
    assert_eq!(outputs(&decoded), vec![Value::String("before".into())]);
    let states = final_pipeline_states(&decoded);
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].state, 5);
    let record = states[0].error.clone().unwrap();
    assert_eq!(record.message, "error");
    assert_eq!(
        record.fully_qualified_error_id,
        "Microsoft.PowerShell.Commands.WriteErrorException"
    );
    assert_eq!(
        record.exception_type,
        "Microsoft.PowerShell.Commands.WriteErrorException"
    );
    assert_eq!(record.category, "NotSpecified");
    assert_eq!(record.activity, "Write-Error");
    assert_eq!(record.reason, "WriteErrorException");
    assert_eq!(record.target_name, None);
}

#[test]
fn small_message_size_reassembles_multi_fragment_messages() {
    let decoded = decode(&load("test_psrp_small_msg_size.yml"));
    // With MaxEnvelopeSize 32768 pypsrp cut its CREATE_PIPELINE in two
    // fragments, one in Command and one in a Send; the server answered
    // whole fragments, several per Receive.
    assert!(
        decoded.client_fragments > decoded.client.len(),
        "{} fragments for {} messages",
        decoded.client_fragments,
        decoded.client.len()
    );
    assert_eq!(decoded.server_fragments, decoded.server.len());
    for m in &decoded.client {
        if m.message_type == MessageType::CreatePipeline {
            assert!(!message::parse_create_pipeline(m).unwrap().is_empty());
        }
    }
    for m in &decoded.server {
        check_server_message(m).unwrap();
    }
    let outputs = outputs(&decoded);
    assert!(!outputs.is_empty());
    assert!(final_pipeline_states(&decoded).iter().all(|s| s.state == 4));
}

#[test]
fn protocol_versions_negotiate() {
    for version in ["2.1", "2.2", "2.3"] {
        let decoded = decode(&load(&format!(
            "test_psrp_run_protocol_version_{version}.yml"
        )));
        let capability = decoded
            .server
            .iter()
            .find(|m| m.message_type == MessageType::SessionCapability)
            .unwrap();
        let announced = message::parse_session_capability(capability).unwrap();
        assert_eq!(announced, version);
        assert_eq!(
            ProtocolVersion::negotiate(&announced).unwrap().to_string(),
            version
        );
        assert!(!outputs(&decoded).is_empty(), "{version}");
        assert!(
            final_pipeline_states(&decoded).iter().all(|s| s.state == 4),
            "{version}"
        );
    }
}

#[test]
fn long_running_cmdlet_times_out_then_completes() {
    let decoded = decode(&load("test_psrp_long_running_cmdlet.yml"));
    assert!(decoded.faults.len() >= 2);
    assert!(decoded
        .faults
        .iter()
        .all(|f| f.is_timed_out() && f.code == Some(2150858793)));
    assert!(decoded.faults[0].message().contains("OperationTimeout"));
    assert!(outputs(&decoded).contains(&Value::String("hi".into())));
}

#[test]
fn receive_failure_fault_is_typed() {
    let decoded = decode(&load("test_psrp_receive_failure.yml"));
    let fault = decoded.faults.first().unwrap();
    assert_eq!(fault.code, Some(2150858843));
    assert_eq!(fault.subcode, "InvalidSelectors");
    assert!(fault
        .message()
        .contains("command identifier that does not exist"));
}

/// The element structure of an envelope: names by namespace, attribute
/// names, and the text of elements whose text is not an id, a time or a
/// payload.
fn structure(element: &Element, out: &mut String) {
    const KEEP_TEXT: [&str; 7] = [
        "Action",
        "ResourceURI",
        "Option",
        "DesiredStream",
        "Code",
        "InputStreams",
        "OutputStreams",
    ];
    out.push_str(&format!("<{{{}}}{}", element.namespace, element.name));
    let mut attributes: Vec<String> = element
        .attributes
        .iter()
        .map(|(n, v)| match n.as_str() {
            "ShellId" | "CommandId" => format!(" {n}=*"),
            _ => format!(" {n}={v}"),
        })
        .collect();
    attributes.sort();
    out.push_str(&attributes.concat());
    out.push('>');
    if KEEP_TEXT.contains(&element.name.as_str()) {
        out.push_str(element.trimmed_text());
    }
    for child in &element.children {
        structure(child, out);
    }
    out.push_str("</>");
}

fn shape(xml_text: &str) -> String {
    let mut out = String::new();
    structure(&xml::parse(xml_text.as_bytes()).unwrap(), &mut out);
    out
}

fn recorded_ctx() -> RequestContext {
    RequestContext {
        to: "https://127.0.0.1:55986/wsman".into(),
        resource_uri: "http://schemas.microsoft.com/powershell/Microsoft.PowerShell".into(),
        max_envelope_size: 153600,
        operation_timeout: Duration::from_secs(20),
        locale: "en-US".into(),
        session_id: Uuid::new_v4(),
    }
}

fn client_messages(payload: &[u8]) -> Vec<Value> {
    Defragmenter::default()
        .push(payload)
        .unwrap()
        .into_iter()
        .map(|b| clixml::from_bytes(&Message::decode(b).unwrap().data).unwrap())
        .collect()
}

fn payload_of(request: &str) -> Vec<u8> {
    match srv::parse_request(request.as_bytes()).unwrap().body {
        RequestBody::Create { creation_xml, .. } => creation_xml,
        RequestBody::Command { arguments, .. } => arguments,
        other => panic!("no payload in {other:?}"),
    }
}

#[test]
fn our_requests_match_pypsrp_structurally() {
    let recording = load("test_psrp_long_running_cmdlet.yml");
    let requests: Vec<&str> = recording
        .messages
        .iter()
        .filter_map(|m| m.request.as_deref())
        .collect();
    let find = |action: &str| -> &str {
        requests
            .iter()
            .copied()
            .find(|r| r.contains(&format!("{action}</wsa:Action>")))
            .unwrap_or_else(|| panic!("no {action} request"))
    };
    let ctx = recorded_ctx();
    let rpid = Uuid::new_v4();
    let mut fragmenter = Fragmenter::new();
    let mut creation = Vec::new();
    for m in [
        message::session_capability(Destination::Server, rpid, message::PROTOCOL_VERSION),
        message::init_runspace_pool(rpid, None),
    ] {
        for f in fragmenter.fragment(&m.encode(false), 100_000) {
            f.encode_into(&mut creation);
        }
    }
    let recorded_create = find("transfer/Create");
    let ours = ws::create(&ctx, rpid, "2.3", &creation);
    assert_eq!(shape(&ours.body), shape(recorded_create));
    assert_eq!(
        client_messages(&creation),
        client_messages(&payload_of(recorded_create))
    );

    let mut ctx = ctx;
    ctx.max_envelope_size = 512000;
    // A single cmdlet with one parameter, as the connector sends them.
    let jea = load("test_psrp_with_jea_configuration.yml");
    let recorded_command = jea
        .messages
        .iter()
        .filter_map(|m| m.request.as_deref())
        .find(|r| r.contains("shell/Command</wsa:Action>"))
        .unwrap();
    let pid = Uuid::new_v4();
    let commands = [Command::new("Get-Item").param(
        "Path",
        "WSMan:\\localhost\\Service\\AllowUnencrypted".into(),
    )];
    let create_pipeline = message::create_pipeline(rpid, pid, &commands, "2.3");
    let mut arguments = Vec::new();
    for f in fragmenter.fragment(&create_pipeline.encode(false), 100_000) {
        f.encode_into(&mut arguments);
    }
    let mut jea_ctx = ctx.clone();
    jea_ctx.resource_uri = "http://schemas.microsoft.com/powershell/JEARole".into();
    let ours = ws::command(&jea_ctx, "SHELL", pid, &arguments);
    assert_eq!(shape(&ours.body), shape(recorded_command));
    assert_eq!(
        client_messages(&arguments),
        client_messages(&payload_of(recorded_command))
    );

    let recorded_receive = requests
        .iter()
        .copied()
        .find(|r| r.contains("shell/Receive</wsa:Action>") && r.contains("DesiredStream CommandId"))
        .unwrap();
    assert_eq!(
        shape(&ws::receive(&ctx, "SHELL", Some("CMD")).body),
        shape(recorded_receive)
    );
    let recorded_shell_receive = requests
        .iter()
        .copied()
        .find(|r| {
            r.contains("shell/Receive</wsa:Action>") && !r.contains("DesiredStream CommandId")
        })
        .unwrap();
    assert_eq!(
        shape(&ws::receive(&ctx, "SHELL", None).body),
        shape(recorded_shell_receive)
    );
    assert_eq!(
        shape(&ws::delete(&ctx, "SHELL").body),
        shape(find("transfer/Delete"))
    );

    let terminate = load("test_psrp_with_no_history.yml");
    if let Some(signal) = terminate
        .messages
        .iter()
        .filter_map(|m| m.request.as_deref())
        .find(|r| r.contains("shell/Signal</wsa:Action>"))
    {
        assert_eq!(
            shape(
                &ws::signal(
                    &ctx,
                    "SHELL",
                    Some("CMD"),
                    idconn_psrp::wsman::SIGNAL_TERMINATE
                )
                .body
            ),
            shape(signal)
        );
    }
}

#[test]
fn our_server_parses_pypsrp_requests() {
    let recording = load("test_psrp_long_running_cmdlet.yml");
    let decoded = decode(&recording);
    let create = decoded
        .requests
        .iter()
        .find(|r| matches!(r.body, RequestBody::Create { .. }))
        .unwrap();
    assert_eq!(create.option("protocolversion"), Some("2.3"));
    assert_eq!(create.operation_timeout, Some(Duration::from_secs(5)));
    assert_eq!(create.max_envelope_size, Some(153600));
    // Two statements (`Start-Sleep -Seconds 10; echo hi`) in ExtraCmds.
    let pipeline = decoded
        .client
        .iter()
        .find(|m| m.message_type == MessageType::CreatePipeline)
        .unwrap();
    let commands = message::parse_create_pipeline(pipeline).unwrap();
    let mut echo = Command::new("echo hi");
    echo.is_script = true;
    assert_eq!(
        commands,
        vec![
            Command::new("Start-Sleep").param("Seconds", Value::I32(10)),
            echo
        ]
    );
}

/// Every recorded Receive response (real Windows servers: their prefixes,
/// whitespace and CommandState forms) is read in place exactly as the tree
/// reads it; faults are left to the tree.
#[test]
fn recorded_receive_responses_read_in_place_as_the_tree_reads_them() {
    use idconn_psrp::wsman::receive::receive_response_direct;
    let (mut direct, mut faults) = (0, 0);
    for (name, recording) in recordings() {
        for response in recording
            .messages
            .iter()
            .filter_map(|m| m.response.as_deref())
        {
            if !response.contains("ReceiveResponse") && !response.contains("Fault") {
                continue;
            }
            let tree =
                ws::parse_response(response.as_bytes()).and_then(|r| ws::receive_response(&r));
            match receive_response_direct(response.as_bytes(), Vec::new) {
                Some(read) => {
                    assert_eq!(Ok(read), tree, "{name}");
                    direct += 1;
                }
                None => {
                    assert!(
                        tree.is_err(),
                        "{name}: the plain response was left to the tree"
                    );
                    faults += 1;
                }
            }
        }
    }
    assert!(
        direct >= 30 && faults >= 1,
        "{direct} read, {faults} faults"
    );
}
