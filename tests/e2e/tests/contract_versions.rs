//! Contract versions from outside: the 0.2.0 Exchange component committed
//! at runtime/host/tests/fixtures/exchange-0.2.0.wasm (never rebuilt) runs
//! unchanged against the simulator, and the approval rule holds for it:
//! a write cmdlet it declares but the operator did not approve never runs.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;
use idconn_e2e::workspace_root;

fn frozen() -> PathBuf {
    workspace_root().join("runtime/host/tests/fixtures/exchange-0.2.0.wasm")
}

/// The simulator's connection running the frozen 0.2.0 component.
fn frozen_agent(sim: &Simulator) -> Agent {
    let mut connection = sim.connection("admin", "admin");
    connection["ComponentPath"] = json!(frozen());
    Agent::new(connection).unwrap()
}

#[test]
fn the_frozen_0_2_0_component_inspects_exports_and_checks() {
    let inspect = idconn_e2e::run_idconn(["inspect".as_ref(), frozen().as_os_str()]).unwrap();
    assert!(inspect.status.success(), "{}", describe(&inspect));
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("contract:  0.2.0"), "{text}");
    assert!(
        text.contains("world:     idconn:connector/connector@0.2.0"),
        "{text}"
    );

    let (sim, _) = start("admin");
    let agent = frozen_agent(&sim);
    let out = agent.export().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mailboxes = agent.mailboxes().unwrap().len();
    let databases = agent.databases().unwrap().len();
    assert!(mailboxes > 0 && databases > 0);
    // Counts keyed by entity kind: the 0.2.0 summary's, named by the
    // 0.2.0 bindings.
    assert!(
        stdout.contains(&format!("{mailboxes} mailbox, {databases} database;")),
        "{stdout}"
    );

    // 0.2.0 has no check export: the host opens and closes a session and
    // says so.
    let check = agent.idconn("check", std::iter::empty::<&str>()).unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("the component's contract (0.2.0) has no check"),
        "{text}"
    );
}

#[test]
fn a_declared_write_cmdlet_the_operator_did_not_approve_is_denied_and_audited() {
    let (sim, _) = start("admin");
    let mut connection = sim.connection("admin", "admin");
    // The component declares Enable-Mailbox for fulfill; nobody approved it.
    connection.as_object_mut().unwrap().remove("Grants");
    connection["ComponentPath"] = json!(frozen());
    let agent = Agent::new(connection).unwrap();
    let new_user = users_without_mailbox(spec())[0].clone();
    let run = fulfill_orders(
        &agent,
        &[order(
            "1",
            "Added",
            MAILBOX,
            json!({ "SamAccountName": new_user, "Database": {"Name": "DB01"} }),
            json!({}),
        )],
    );
    let row = run.result("1");
    assert_eq!(row["ProvisioningState"], "Errored", "{row:?}");
    assert!(
        row["Message"].contains("not approved by the operator"),
        "{row:?}"
    );
    // The audit line (target `audit`; the CLI's format omits targets):
    // the refusal with the connection, the component's digest and the cmdlet.
    let log = String::from_utf8_lossy(&run.out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("WARN denied: cmdlet 'Enable-Mailbox'")
                && l.contains("component=")
                && l.contains("operation=\"fulfill\"")),
        "no audit line in\n{log}"
    );
    // Nothing reached the server: the user still has no mailbox.
    agent.export().unwrap();
    let rows = agent.mailboxes().unwrap();
    assert!(
        !rows.iter().any(|r| r["SamAccountName"] == new_user),
        "{new_user} got a mailbox"
    );
}
