//! The Python connector (components/python/quota-report, built by
//! componentize-py and stamped by `idconn manifest set` in `just build`)
//! against the simulator over HTTP, under wasmtime: a connector in a
//! second language goes through the same contract, sandbox and approval
//! rule as the Rust one.
//!
//! Every test shares the e2e compile cache, so the 18 MB component is
//! compiled once per build of it, not once per test.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;
use idconn_e2e::{run_idconn, workspace_root, CONNECTION};

fn python_component() -> PathBuf {
    let path = workspace_root().join("components/target/python/quota-report.wasm");
    assert!(
        path.is_file(),
        "{} is missing: run `just build` (scripts/build-python.sh)",
        path.display()
    );
    path
}

/// An agent on `sim` running the Python component, with `extra` settings
/// merged into the connection.
fn python_agent(sim: &Simulator, extra: Value) -> Agent {
    let mut connection = sim.connection("admin", "admin");
    if let Some(c) = connection.as_object_mut() {
        // The simulator's default connection approves the Exchange
        // component's writes; this one approves only what `extra` says.
        c.remove("Grants");
        c.insert("ComponentPath".into(), json!(python_component()));
        if let Some(e) = extra.as_object() {
            c.extend(e.clone());
        }
    }
    Agent::new(connection).unwrap()
}

/// The sha256 `idconn manifest show` prints for a component.
fn sha256_of(component: &Path) -> String {
    let show = run_idconn(["manifest".as_ref(), "show".as_ref(), component.as_os_str()]).unwrap();
    assert!(show.status.success(), "{}", describe(&show));
    String::from_utf8_lossy(&show.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("a sha256 line")
        .to_string()
}

fn quotas(agent: &Agent) -> Vec<Row> {
    read_csv(
        &agent
            .export_output()
            .join(format!("{CONNECTION}_quotas.csv")),
    )
    .unwrap()
}

#[test]
fn exports_every_mailbox_quota_with_non_ascii_text_intact() {
    let (sim, _) = start("admin");
    let agent = python_agent(&sim, json!({}));
    agent.export().unwrap();
    let rows = quotas(&agent);

    let dir = seeded_directory(spec());
    let mailboxes: Vec<_> = dir
        .users
        .values()
        .filter_map(|u| u.mailbox.as_ref().map(|m| (u, m)))
        .collect();
    assert_eq!(rows.len(), mailboxes.len(), "one row per mailbox");
    let mut non_ascii = 0;
    for (user, mailbox) in mailboxes {
        let row = by(&rows, "Guid", &user.guid)
            .unwrap_or_else(|| panic!("no row for {} ({})", user.display_name, user.guid));
        // Byte spans decoded as bytes: a name with "é" or "さくら" comes out
        // whole, and so does every column after it.
        assert_eq!(row["DisplayName"], user.display_name);
        assert_eq!(row["PrimarySmtpAddress"], mailbox.primary_smtp_address());
        let db = dir
            .databases
            .get(&mailbox.database)
            .expect("the mailbox's database");
        assert_eq!(row["Database"], db.name);
        let flag = if mailbox.use_database_quota_defaults {
            "True"
        } else {
            "False"
        };
        assert_eq!(row["UseDatabaseQuotaDefaults"], flag);
        for (column, quota) in [
            ("IssueWarningQuota", mailbox.issue_warning_quota),
            ("ProhibitSendQuota", mailbox.prohibit_send_quota),
            (
                "ProhibitSendReceiveQuota",
                mailbox.prohibit_send_receive_quota,
            ),
        ] {
            match quota {
                None => assert_eq!(row[column], "Unlimited", "{column} of {}", user.guid),
                // PowerShell's ToString of a ByteQuantifiedSize ends with
                // the exact byte count: "1.9 GB (2,040,109,466 bytes)".
                Some(bytes) => assert!(
                    row[column]
                        .replace(',', "")
                        .contains(&format!("({bytes} bytes)")),
                    "{column} of {}: {:?} is not {bytes} bytes",
                    user.guid,
                    row[column]
                ),
            }
        }
        if !user.display_name.is_ascii() {
            non_ascii += 1;
        }
    }
    assert!(
        non_ascii > 0,
        "the seed has no non-ASCII display name to check"
    );
}

#[test]
fn a_write_cmdlet_runs_only_once_the_operator_approved_it() {
    let (sim, _) = start("admin");
    let dir = seeded_directory(spec());
    let user = dir
        .users
        .values()
        .find(|u| u.mailbox.is_some())
        .expect("a mailbox");
    let orders = [order(
        "1",
        "Modified",
        MAILBOX,
        json!({"Guid": user.guid, "ProhibitSendQuota": "3GB"}),
        json!({}),
    )];
    let three_gb = format!("({} bytes)", 3u64 << 30);

    // Declared by the component (manifest.json: fulfill: Set-Mailbox), but
    // Set is not a read verb and nobody approved it: denied before the
    // server sees it.
    let unapproved = python_agent(&sim, json!({}));
    let run = fulfill_orders(&unapproved, &orders);
    run.assert_errored("1", "denied");
    unapproved.export().unwrap();
    let row = by(&quotas(&unapproved), "Guid", &user.guid)
        .cloned()
        .unwrap();
    assert!(!row["ProhibitSendQuota"]
        .replace(',', "")
        .contains(&three_gb));

    // The operator approves Set-Mailbox for fulfill: it runs.
    let approved = python_agent(&sim, json!({"Grants": {"fulfill": ["Set-Mailbox"]}}));
    fulfill_orders(&approved, &orders).assert_executed("1");
    approved.export().unwrap();
    let row = by(&quotas(&approved), "Guid", &user.guid).cloned().unwrap();
    assert!(
        row["ProhibitSendQuota"]
            .replace(',', "")
            .contains(&three_gb),
        "{row:?}"
    );

    // Pinning the component's bytes approves everything it declares.
    let sha256 = sha256_of(&python_component());
    let pinned = python_agent(&sim, json!({"ComponentSha256": sha256}));
    let back = [order(
        "3",
        "Modified",
        MAILBOX,
        json!({"Guid": user.guid, "ProhibitSendQuota": "Unlimited"}),
        json!({}),
    )];
    fulfill_orders(&pinned, &back).assert_executed("3");

    // Anything but a quota change is answered, not attempted.
    let other = [order(
        "2",
        "Added",
        MAILBOX,
        json!({"SamAccountName": "nobody"}),
        json!({}),
    )];
    fulfill_orders(&approved, &other).assert_errored("2", "only exports mailbox quotas");
}

#[test]
fn the_stamped_manifest_round_trips() {
    let component = python_component();
    let show = run_idconn(["manifest".as_ref(), "show".as_ref(), component.as_os_str()]).unwrap();
    assert!(show.status.success(), "{}", describe(&show));
    let text = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(
        text.contains("quota-report") && text.contains("Set-Mailbox"),
        "{text}"
    );

    // Stamping the same manifest again gives the same bytes (a pin on the
    // stamped file stays valid), and the printed sha256 is the file's.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("again.wasm");
    let manifest = workspace_root().join("components/python/quota-report/manifest.json");
    let set = run_idconn([
        "manifest".as_ref(),
        "set".as_ref(),
        component.as_os_str(),
        manifest.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ])
    .unwrap();
    assert!(set.status.success(), "{}", describe(&set));
    assert_eq!(fs::read(&out).unwrap(), fs::read(&component).unwrap());
    let printed = String::from_utf8_lossy(&set.stdout).into_owned();
    let sha = printed
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("a sha256 line");
    assert!(
        text.contains(sha),
        "show and set disagree: {text} / {printed}"
    );

    // A manifest the host would refuse is refused by the tool too.
    let bad = tmp.path().join("bad.json");
    fs::write(&bad, r#"{"contract":"0.3.0","name":"x"}"#).unwrap();
    let refused = run_idconn([
        "manifest".as_ref(),
        "set".as_ref(),
        component.as_os_str(),
        bad.as_os_str(),
        "-o".as_ref(),
        tmp.path().join("bad.wasm").as_os_str(),
    ])
    .unwrap();
    assert!(!refused.status.success(), "{}", describe(&refused));
}

#[test]
fn compile_warms_the_cache_and_prunes_it_to_its_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let settings = tmp.path().join("appsettings.agent.json");
    // A bound of 0 MiB: every entry but the one just compiled goes.
    fs::write(
        &settings,
        json!({
            "ComponentCachePath": cache,
            "ComponentCacheMaxMiB": 0,
            "Connections": {"Replay": {"AuthType": "Replay", "Server": "fixture.json"}},
        })
        .to_string(),
    )
    .unwrap();
    let release = workspace_root().join("components/target/wasm32-wasip2/release");
    let compile = |name: &str| {
        let out = run_idconn([
            "compile".as_ref(),
            release.join(name).as_os_str(),
            "--settings".as_ref(),
            settings.as_os_str(),
        ])
        .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let entries = || {
        let mut names: Vec<String> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let first = compile("versioned_v1.wasm");
    assert!(first.contains(": compiled in"), "{first}");
    let v1 = entries();
    assert_eq!(v1.len(), 1, "{v1:?}");
    assert!(compile("versioned_v1.wasm").contains("already compiled"));

    // The second component's entry stays although it alone exceeds the
    // bound (it is in use); the least recently used one goes.
    compile("versioned_v2.wasm");
    let v2 = entries();
    assert_eq!(v2.len(), 1, "{v2:?}");
    assert_ne!(v1, v2);
}
