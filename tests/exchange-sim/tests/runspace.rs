//! Exchange's restricted runspace: no scripts, RBAC-trimmed cmdlets,
//! PowerShell-like parameter binding, throttling.

mod common;

use common::*;
use exchange_sim::backend::ExchangeBackend;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::{ModelFaults, Organization};
use idconn_psrp::Command;

#[test]
fn scripts_are_refused_in_no_language_mode() {
    let org = org(5);
    let mut script = Command::new("Get-Mailbox | ForEach-Object { $_.Name }");
    script.is_script = true;
    let out = run(&org, vec![script]);
    let failed = out.failed.unwrap();
    assert_eq!(
        failed.message,
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
    );
    assert!(out.output.is_empty());
}

#[test]
fn unknown_and_ungranted_cmdlets_are_not_found() {
    let org = org(5);
    let out = run(&org, vec![cmd("Remove-Everything")]);
    let failed = out.failed.unwrap();
    assert!(failed
        .message
        .starts_with("The term 'Remove-Everything' is not recognized as the name of a cmdlet"));
    assert_eq!(failed.fully_qualified_error_id, "CommandNotFoundException");
    assert_eq!(failed.category, "ObjectNotFound");

    let out = run_as(
        &org,
        "reader",
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param(
                "EmailAddressPolicyEnabled",
                idconn_psrp::clixml::Value::Bool(false),
            )],
    );
    assert!(out
        .failed
        .unwrap()
        .message
        .starts_with("The term 'Set-Mailbox' is not recognized"));
    let out = run_as(
        &org,
        "reader",
        vec![
            cmd("get-mailbox"),
            cmd("select-object").param("Property", text("Name")),
        ],
    )
    .ok();
    assert_eq!(out.output.len(), 5);
}

#[test]
fn parameters_bind_like_powershell() {
    let org = org(5);
    for name in ["Identity", "-Identity", "identity", "-IDENT"] {
        let out = run(
            &org,
            vec![cmd("Get-Mailbox").param(name, text("Administrator"))],
        )
        .ok();
        assert_eq!(out.output.len(), 1, "{name}");
    }
    let out = run(&org, vec![cmd("Get-Mailbox").param("Colour", text("blue"))]);
    let failed = out.failed.unwrap();
    assert_eq!(
        failed.message,
        "A parameter cannot be found that matches parameter name 'Colour'."
    );
    assert_eq!(
        failed.fully_qualified_error_id,
        "NamedParameterNotFound,Microsoft.Exchange.Management.RecipientTasks.GetMailbox"
    );
    assert_eq!(
        failed.exception_type,
        "System.Management.Automation.ParameterBindingException"
    );
    let out = run(
        &org,
        vec![positional(
            positional(cmd("Get-Mailbox"), text("Administrator")),
            text("extra"),
        )],
    );
    assert!(out
        .failed
        .unwrap()
        .message
        .starts_with("A positional parameter cannot be found"));
    let out = run(&org, vec![cmd("Get-Mailbox").param("Re", text("x"))]);
    assert!(out.failed.unwrap().message.contains("is ambiguous"));
}

#[test]
fn authentication_and_throttling() {
    let org = org(5);
    assert_eq!(
        org.authenticate_basic("admin", "admin").as_deref(),
        Some("admin")
    );
    assert_eq!(org.authenticate_basic("admin", "nope"), None);

    let mut options = options();
    options.faults = ModelFaults {
        throttle_after: Some(3),
        micro_delay_every: Some(2),
        ..ModelFaults::default()
    };
    let throttled = Organization::open(
        SeedSpec {
            mailboxes: 5,
            databases: 1,
            seed: 1,
        },
        options,
    )
    .unwrap();
    let first = run(&throttled, vec![cmd("Get-MailboxDatabase")]).ok();
    assert!(first.warnings.is_empty());
    let second = run(&throttled, vec![cmd("Get-MailboxDatabase")]).ok();
    assert_eq!(second.output.len(), 1, "slowed, not failed");
    assert!(second.warnings[0].starts_with("Micro delay applied."));
    run(&throttled, vec![cmd("Get-MailboxDatabase")]).ok();
    let out = run(&throttled, vec![cmd("Get-MailboxDatabase")]);
    let failed = out.failed.unwrap();
    assert!(failed
        .message
        .starts_with("Fail to create a runspace because you have exceeded your budget"));
    assert!(failed
        .fully_qualified_error_id
        .contains("OverBudgetException"));
}

/// `--throttle-times`: the budget recovers after that many refusals.
#[test]
fn throttling_can_be_transient() {
    let mut options = options();
    options.faults = ModelFaults {
        throttle_after: Some(1),
        throttle_times: Some(1),
        ..ModelFaults::default()
    };
    let org = Organization::open(
        SeedSpec {
            mailboxes: 5,
            databases: 1,
            seed: 1,
        },
        options,
    )
    .unwrap();
    run(&org, vec![cmd("Get-MailboxDatabase")]).ok();
    let refused = run(&org, vec![cmd("Get-MailboxDatabase")]);
    assert!(refused
        .failed
        .unwrap()
        .message
        .contains("Please wait for 5 seconds"));
    let after = run(&org, vec![cmd("Get-MailboxDatabase")]).ok();
    assert_eq!(after.output.len(), 1, "the budget recovered");
}
