//! The real `idconn export` against a hostile WS-Management server (issue
//! 18): every attack ends with a clear error, the previous files intact,
//! and idconn's peak RSS (measured by wait4 on the child) under 256 MiB.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::Duration;

use idconn_e2e::hostile::{
    completed, fragment, output, receive_response, run_idconn_measured, whole, Attack,
    HostileServer, MeasuredRun, Reply,
};
use idconn_e2e::{Agent, CONNECTION};
use idconn_psrp::message::{self, Destination, ErrorRecord, MessageType};
use serde_json::{json, Value};

const MAX_RSS_MIB: u64 = 256;
/// Raw fragment bytes per Receive: 8 MB once base64-encoded, under the
/// client's 8 MiB cap on a response body.
const CHUNK: usize = 5 * 1024 * 1024;

fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Runs a complete export against `attack` over files a previous export
/// left, and checks what every attack must give: a failure that says
/// `error:`, nothing changed on disk, bounded memory, and no server text
/// that forges a log line or reaches the terminal.
fn attacked(attack: impl Attack, limits: Value) -> MeasuredRun {
    let server = HostileServer::start(attack).expect("the hostile server starts");
    let agent = Agent::new(server.connection(limits)).expect("an agent folder");
    let output = agent.export_output();
    fs::create_dir_all(&output).expect("ExportOutput");
    fs::write(
        output.join(format!("{CONNECTION}_mailboxes.csv")),
        "Command,Guid\nInsert,previous\n",
    )
    .expect("a previous CSV");
    let before = files(agent.path());
    let args: Vec<OsString> = vec![
        "export".into(),
        "--settings".into(),
        agent.settings.clone().into(),
        "--connection".into(),
        CONNECTION.into(),
        "--ignore-cookies".into(),
    ];
    let run = run_idconn_measured(&args).expect("idconn runs");
    // Shown with --nocapture: the figures of the report.
    eprintln!("peak RSS of idconn: {} MiB", run.peak_rss_kib / 1024);
    let text = run.text();
    assert!(!run.success, "the attack did not fail the export: {text}");
    assert!(run.stderr.contains("error:"), "{text}");
    assert_eq!(
        before,
        files(agent.path()),
        "the attack changed files: {text}"
    );
    assert!(
        run.peak_rss_kib < MAX_RSS_MIB * 1024,
        "peak RSS {} MiB: {text}",
        run.peak_rss_kib / 1024
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains('\u{1b}'), "ESC reached the output: {text}");
    assert!(
        !all.lines().any(|l| l.starts_with("FORGED")),
        "a server text forged a line: {text}"
    );
    assert!(
        all.lines().all(|l| l.len() < 64 * 1024),
        "a line of more than 64 KiB: {text}"
    );
    run
}

fn expect(run: &MeasuredRun, needle: &str) {
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?}: {}",
        run.text()
    );
}

/// A PSRP message cut into `CHUNK`-sized fragments, one per Receive, then
/// the pipeline's completion.
struct Fragmented {
    bytes: Vec<u8>,
}

impl Attack for Fragmented {
    fn receive(&self, relates: &str, n: usize) -> Reply {
        let chunks: Vec<&[u8]> = self.bytes.chunks(CHUNK).collect();
        match chunks.get(n) {
            Some(chunk) => Reply::Soap(receive_response(
                relates,
                &[fragment(9, n as u64, n == 0, n + 1 == chunks.len(), chunk)],
                false,
            )),
            None => Reply::Soap(receive_response(relates, &[whole(10, &completed())], true)),
        }
    }
}

// --- 1. memory bombs ---------------------------------------------------

/// 40,000 elements in a 256 KiB namespace (0.5 MB): the parser copied the
/// namespace into every element (10 GB).
struct NamespaceBomb;

impl Attack for NamespaceBomb {
    fn receive(&self, relates: &str, n: usize) -> Reply {
        if n > 0 {
            return Reply::Over;
        }
        let uri = format!("urn:{}", "n".repeat(256 * 1024));
        let mut xml = receive_response(relates, &[], false);
        let at = xml.find("<rsp:ReceiveResponse>").unwrap_or(0);
        let bomb = format!(
            "<b:Bomb xmlns:b=\"{uri}\">{}</b:Bomb>",
            "<b:x/>".repeat(40_000)
        );
        xml.insert_str(at, &bomb);
        Reply::Soap(xml)
    }
}

#[test]
fn a_namespace_bomb_stays_small() {
    let run = attacked(NamespaceBomb, json!({}));
    expect(&run, "500");
}

/// 8 MB of `<x/>`: two million elements (403 MiB as a tree).
struct ElementBomb;

impl Attack for ElementBomb {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        let mut xml = receive_response(relates, &[], false);
        let at = xml.find("<rsp:ReceiveResponse>").unwrap_or(0);
        xml.insert_str(at, &"<x/>".repeat(2_000_000));
        Reply::Soap(xml)
    }
}

#[test]
fn an_element_bomb_is_refused() {
    let run = attacked(ElementBomb, json!({}));
    expect(&run, "more than 100000 elements");
}

/// 10^7 empty `<Obj/>` in one list, a 60 MB message over 12 Receives.
#[test]
fn ten_million_empty_objects_hit_the_budget() {
    let mut clixml = String::from("<Obj RefId=\"0\"><LST>");
    clixml.push_str(&"<Obj/>".repeat(10_000_000));
    clixml.push_str("</LST></Obj>");
    let bytes = output(&clixml).encode(true);
    drop(clixml);
    let run = attacked(Fragmented { bytes }, json!({}));
    expect(&run, "Limits.MaxServerDataMiB");
}

/// 110 `<Ref>`s to a 4 MiB object: counted by decoded size now.
#[test]
fn references_to_a_big_object_are_counted_by_decoded_size() {
    let mut clixml = String::from("<Obj RefId=\"0\"><LST><Obj RefId=\"1\"><ToString>");
    clixml.push_str(&"a".repeat(4 * 1024 * 1024));
    clixml.push_str("</ToString></Obj>");
    clixml.push_str(&"<Ref RefId=\"1\"/>".repeat(110));
    clixml.push_str("</LST></Obj>");
    let bytes = output(&clixml).encode(true);
    let run = attacked(Fragmented { bytes }, json!({}));
    assert!(
        run.stderr.contains("Limits.MaxServerDataMiB") || run.stderr.contains("amplify"),
        "{}",
        run.text()
    );
}

/// 64 messages of 64 MiB each, interleaved, none ever finished.
struct PartialFlood;

impl Attack for PartialFlood {
    fn receive(&self, relates: &str, n: usize) -> Reply {
        let blob = vec![b'x'; CHUNK / 64];
        let streams: Vec<Vec<u8>> = (1..=64u64)
            .map(|id| fragment(id, n as u64, n == 0, false, &blob))
            .collect();
        Reply::Soap(receive_response(relates, &streams, false))
    }
}

#[test]
fn unfinished_messages_share_one_budget() {
    let run = attacked(PartialFlood, json!({}));
    expect(&run, "Limits.MaxServerDataMiB");
}

/// Error records without end (each 64 KiB of text with a forged log line
/// and a terminal escape), then never Done: the records are capped and the
/// call ends by HostCallTimeoutSeconds.
struct ErrorFlood;

fn forged_record(text_len: usize) -> ErrorRecord {
    ErrorRecord {
        message: format!(
            "bad\r\nFORGED 2026-12-02T00:00:00Z  INFO export done \u{1b}[2J{}",
            "e".repeat(text_len)
        ),
        fully_qualified_error_id: "Hostile\r\nFORGED id".into(),
        category: "NotSpecified".into(),
        ..ErrorRecord::default()
    }
}

impl Attack for ErrorFlood {
    fn receive(&self, relates: &str, n: usize) -> Reply {
        let record = message::error_record(
            uuid::Uuid::nil(),
            uuid::Uuid::nil(),
            &forged_record(64 * 1024),
        );
        let streams: Vec<Vec<u8>> = (0..16u64)
            .map(|i| whole(n as u64 * 16 + i + 1, &record))
            .collect();
        Reply::Soap(receive_response(relates, &streams, false))
    }
}

#[test]
fn a_flood_of_error_records_is_capped_and_ends_by_the_call_timeout() {
    let run = attacked(ErrorFlood, json!({"HostCallTimeoutSeconds": 5}));
    expect(&run, "HostCallTimeoutSeconds");
}

// --- 2. silent loss ----------------------------------------------------

/// Three objects; the second's end fragment never comes; then Completed.
struct LostEnd;

impl Attack for LostEnd {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        let object = |name: &str| {
            output(&format!(
                "<Obj RefId=\"0\"><MS><S N=\"Name\">{name}</S></MS></Obj>"
            ))
            .encode(true)
        };
        let second = object("second");
        let (head, _) = second.split_at(second.len() / 2);
        Reply::Soap(receive_response(
            relates,
            &[
                fragment(1, 0, true, true, &object("first")),
                fragment(2, 0, true, false, head),
                fragment(3, 0, true, true, &object("third")),
                whole(4, &completed()),
            ],
            true,
        ))
    }
}

#[test]
fn a_message_without_its_end_fails_the_pipeline() {
    let run = attacked(LostEnd, json!({}));
    expect(&run, "incomplete");
}

/// Output addressed to the server.
struct WrongDestination;

impl Attack for WrongDestination {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        let mut misrouted = output("<S>x</S>");
        misrouted.destination = Destination::Server;
        Reply::Soap(receive_response(
            relates,
            &[whole(1, &misrouted), whole(2, &completed())],
            true,
        ))
    }
}

#[test]
fn output_addressed_to_the_server_is_refused() {
    let run = attacked(WrongDestination, json!({}));
    expect(&run, "addressed to the server");
}

// --- 3. server text in the log -----------------------------------------

/// The pipeline fails with a record whose text forges a line.
struct ForgedFailure;

impl Attack for ForgedFailure {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        let warning = message::informational_record(
            uuid::Uuid::nil(),
            uuid::Uuid::nil(),
            MessageType::WarningRecord,
            "careful\nFORGED warning \u{1b}]0;title\u{7}",
        );
        let failed = message::pipeline_state(
            uuid::Uuid::nil(),
            uuid::Uuid::nil(),
            message::pipeline_state_values::FAILED,
            Some(&forged_record(16)),
        );
        Reply::Soap(receive_response(
            relates,
            &[whole(1, &warning), whole(2, &failed)],
            true,
        ))
    }
}

#[test]
fn server_text_cannot_forge_log_lines() {
    let run = attacked(ForgedFailure, json!({}));
    expect(&run, "bad\\r\\nFORGED");
}

/// A 7 MiB fault at session open.
struct HugeFault;

impl Attack for HugeFault {
    fn create(&self, relates: &str) -> Reply {
        let text = format!("denied\r\nFORGED \u{1b}[31m{}", "f".repeat(7 * 1024 * 1024));
        Reply::Fault(idconn_psrp::wsman::server::fault_response(
            relates,
            &idconn_psrp::wsman::Fault::invalid_request("hostile", &text),
        ))
    }

    fn receive(&self, _: &str, _: usize) -> Reply {
        Reply::Over
    }
}

#[test]
fn a_huge_fault_at_open_is_one_short_line() {
    let run = attacked(HugeFault, json!({}));
    expect(&run, "denied\\r\\nFORGED");
    assert!(run.stderr.len() < 64 * 1024, "{}", run.text());
}

// --- 4. hangs ------------------------------------------------------------

/// Every Receive answered at once with "still running" (no data, no Done).
struct StillRunning;

impl Attack for StillRunning {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        Reply::Soap(receive_response(relates, &[], false))
    }
}

#[test]
fn still_running_forever_ends_by_the_call_timeout() {
    let run = attacked(StillRunning, json!({"HostCallTimeoutSeconds": 3}));
    expect(&run, "HostCallTimeoutSeconds");
}

/// The command's Receive is never answered.
struct NeverFinishes;

impl Attack for NeverFinishes {
    fn receive(&self, _: &str, _: usize) -> Reply {
        Reply::Hang
    }
}

#[test]
fn a_command_that_never_finishes_ends_by_the_call_timeout() {
    let run = attacked(NeverFinishes, json!({"HostCallTimeoutSeconds": 3}));
    expect(&run, "HostCallTimeoutSeconds");
}

/// A Receive's body dribbled a byte a second: the timeout covers the body.
struct Dribble;

impl Attack for Dribble {
    fn receive(&self, relates: &str, _: usize) -> Reply {
        Reply::Dribble {
            body: receive_response(relates, &[whole(1, &completed())], true),
            every: Duration::from_secs(1),
        }
    }
}

#[test]
fn a_dribbled_body_ends_by_the_call_timeout() {
    let run = attacked(Dribble, json!({"HostCallTimeoutSeconds": 3}));
    expect(&run, "HostCallTimeoutSeconds");
}
