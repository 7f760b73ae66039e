//! CLIXML decoding throughput on Exchange mailbox objects, against a
//! quick-xml scan that does nothing with the events (the floor any decoder
//! built on quick-xml pays).
//!
//! `cargo bench -p idconn-psrp --bench clixml_decode`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use idconn_psrp::clixml::{self, Value};
use quick_xml::events::Event;
use quick_xml::Reader;

const VECTOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/exchange/get-mailbox-exchange2016.clixml"
);
const MAILBOXES: usize = 1_000;

/// One PIPELINE_OUTPUT body per mailbox, as the client decodes them; names
/// vary so that no two documents are the same bytes.
fn mailboxes() -> Vec<String> {
    let template = std::fs::read_to_string(VECTOR).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
    (0..MAILBOXES)
        .map(|i| {
            template
                .replace("Administrator", &format!("user{i:05}"))
                .replace(
                    "9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2",
                    &format!("9b9387fe-e1b1-4695-97bd-b0a0be{i:06x}"),
                )
        })
        .collect()
}

fn decode_all(docs: &[String]) {
    for doc in docs {
        let value = clixml::from_str(doc).unwrap_or_else(|e| panic!("{e}"));
        black_box(value);
    }
}

fn scan_all(docs: &[String]) {
    for doc in docs {
        let mut reader = Reader::from_str(doc);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(event) => {
                    black_box(event);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn benches(c: &mut Criterion, docs: &[String], bytes: u64) {
    let mut group = c.benchmark_group("mailbox_bytes");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("clixml_decode", |b| b.iter(|| decode_all(docs)));
    group.bench_function("quick_xml_noop_scan", |b| b.iter(|| scan_all(docs)));
    group.finish();

    let mut group = c.benchmark_group("mailbox_objects");
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function("clixml_decode", |b| b.iter(|| decode_all(docs)));
    // The simulator's side: the same objects written back out.
    let values = decoded(docs);
    group.bench_function("clixml_encode", |b| b.iter(|| encode_all(&values)));
    group.finish();
}

fn decoded(docs: &[String]) -> Vec<Value> {
    docs.iter()
        .map(|doc| clixml::from_str(doc).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn encode_all(values: &[Value]) {
    let mut out = String::new();
    for value in values {
        out.clear();
        clixml::write_value(&mut out, value);
        black_box(&out);
    }
}

/// Median wall time of `runs` passes over the corpus.
fn median(runs: usize, mut pass: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn summary(docs: &[String], bytes: u64) {
    let decode = median(15, || decode_all(docs));
    let scan = median(15, || scan_all(docs));
    let values = decoded(docs);
    let encode = median(15, || encode_all(&values));
    let mb = bytes as f64 / 1e6;
    let objects = docs.len() as f64;
    println!(
        "\nsummary: {} mailboxes, {:.1} MB\n  decode: {:.0} MB/s, {:.0} objects/s\n  no-op scan: {:.0} MB/s\n  decode takes {:.2}x the no-op scan\n  encode: {:.0} MB/s, {:.0} objects/s",
        docs.len(),
        mb,
        mb / decode.as_secs_f64(),
        objects / decode.as_secs_f64(),
        mb / scan.as_secs_f64(),
        decode.as_secs_f64() / scan.as_secs_f64(),
        mb / encode.as_secs_f64(),
        objects / encode.as_secs_f64(),
    );
}

fn main() {
    let docs = mailboxes();
    let bytes: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    benches(&mut criterion, &docs, bytes);
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once; skip the timing then.
    if !std::env::args().any(|a| a == "--test") {
        summary(&docs, bytes);
    }
}
