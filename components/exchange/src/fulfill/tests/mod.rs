use super::*;
use idconn_sdk::testing::*;
use idconn_sdk::Argument;
use idconn_sdk::Field;
use idconn_sdk::{Element, Scalar, Value};

mod database_orders;
mod mailbox_orders;
mod move_orders;

const MAILBOX: &str = "MicrosoftExchange_Mailbox";
const DATABASE: &str = "MicrosoftExchange_Database";

fn t(s: &str) -> Field {
    Field::Text(s.to_owned())
}

fn order(
    id: &str,
    change_type: ChangeType,
    entity: &str,
    changes: Vec<(&str, Field)>,
    resource: Vec<(&str, Field)>,
) -> Order {
    let pairs =
        |fields: Vec<(&str, Field)>| fields.into_iter().map(|(n, f)| (n.to_owned(), f)).collect();
    Order {
        assignment_id: id.to_owned(),
        change_type,
        target_entity_type: entity.to_owned(),
        resource_type: format!("{entity}_NominativeUser"),
        owner_id: "21511".to_owned(),
        owner_type: "51".to_owned(),
        changes: pairs(changes),
        resource: pairs(resource),
    }
}

fn request(orders: Vec<Order>) -> FulfillRequest {
    FulfillRequest {
        connection: "ExchangeFulfill".to_owned(),
        orders,
        entity_types: Vec::new(),
        options: Vec::new(),
    }
}

fn not_found(name: &str) -> Answer {
    Answer::Refused(Error::Remote(ErrorRecord {
        message: format!("The operation couldn't be performed because object '{name}' couldn't be found on 'dc01.contoso.com'."),
        fully_qualified_error_id: "[Server=EXCH01] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox".to_owned(),
        category: "NotSpecified".to_owned(),
        target: Some(name.to_owned()),
    }))
}

fn remote(message: &str, id: &str) -> Answer {
    Answer::Refused(Error::Remote(ErrorRecord {
        message: message.to_owned(),
        fully_qualified_error_id: id.to_owned(),
        category: "InvalidOperation".to_owned(),
        target: None,
    }))
}

fn done() -> Answer {
    Answer::nothing()
}

fn mailbox_state(addresses: &[&str], database: &str) -> Answer {
    Answer::objects(vec![mailbox_object(addresses, database)])
}

fn mailbox_object(addresses: &[&str], database: &str) -> idconn_sdk::batch::PsObject {
    object(vec![
        ("Guid", guid("00000000-0000-0000-0000-00000000000a")),
        ("SamAccountName", text("jbond")),
        ("Database", text(database)),
        (
            "PrimarySmtpAddress",
            text(
                addresses
                    .iter()
                    .find_map(|a| a.strip_prefix("SMTP:"))
                    .unwrap_or(""),
            ),
        ),
        ("EmailAddresses", texts(addresses)),
        ("Alias", text("jbond")),
        ("ForwardingSmtpAddress", nil()),
        ("DeliverToMailboxAndForward", boolean(false)),
        ("EmailAddressPolicyEnabled", boolean(false)),
    ])
}

/// A one-command pipeline from `Name -P 'v' -B $false -S` (no spaces
/// inside values), so expectations read like PowerShell.
fn one_call(text: &str) -> Vec<Command> {
    let mut words = text.split(' ').peekable();
    let mut builder = idconn_sdk::command(words.next().unwrap());
    while let Some(word) = words.next() {
        let name = word.strip_prefix('-').unwrap();
        match words.peek() {
            Some(v) if !v.starts_with('-') => {
                let v = words.next().unwrap();
                builder = match v {
                    "$false" => builder.boolean(name, false),
                    "$true" => builder.boolean(name, true),
                    v => builder.text(name, v.trim_matches('\'')),
                };
            }
            _ => builder = builder.switch(name),
        }
    }
    vec![builder.build()]
}

fn run_orders(shell: &FakeShell, orders: Vec<Order>) -> Vec<OrderResult> {
    let results = run(shell, &RecordingReporter::default(), &request(orders)).unwrap();
    // The host denies what the manifest does not declare.
    assert_eq!(
        shell.undeclared(crate::MANIFEST, "fulfill"),
        Vec::<String>::new()
    );
    results
}

fn executed(result: &OrderResult) -> &str {
    assert_eq!(
        result.state,
        ProvisioningState::Executed,
        "{}",
        result.message
    );
    &result.message
}

fn errored(result: &OrderResult) -> &str {
    assert_eq!(
        result.state,
        ProvisioningState::Errored,
        "{}",
        result.message
    );
    &result.message
}

/// The calls a Modified order makes against the mailbox `state` (what
/// Get-Mailbox answers), found by running it on a shell that accepts
/// anything else; the state read itself is left out.
fn mailbox_plan_texts(order: &Order, state: Answer) -> Vec<String> {
    let shell = AcceptAll::new(state);
    let calls = Calls::new(&shell);
    let _ = mailbox::fulfill(&calls, Change::Modified, order);
    shell
        .calls
        .call_texts()
        .into_iter()
        .filter(|c| !c.starts_with("Get-Mailbox "))
        .collect()
}

/// Answers the mailbox state read with `state` and every other pipeline
/// with nothing, recording them.
struct AcceptAll {
    calls: FakeShell,
    state: Answer,
}

impl AcceptAll {
    fn new(state: Answer) -> Self {
        AcceptAll {
            calls: FakeShell::new(),
            state,
        }
    }
}

impl idconn_sdk::Shell for AcceptAll {
    type Output = idconn_sdk::testing::FakeOutput;
    fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error> {
        self.calls.calls.borrow_mut().push(pipeline.to_vec());
        let answer = if pipeline[0].name == "Get-Mailbox" {
            self.state.clone()
        } else {
            done()
        };
        FakeShell::new()
            .on(pipeline.to_vec(), answer)
            .invoke(pipeline)
    }
}

/// Scripts `state` for the state read and `done()` for the other calls
/// the order makes.
fn answer_all(order: &Order, state: Answer) -> FakeShell {
    let accept = AcceptAll::new(state.clone());
    let calls = Calls::new(&accept);
    let _ = mailbox::fulfill(&calls, Change::Modified, order);
    let mut shell = FakeShell::new();
    for pipeline in accept.calls.calls.borrow().iter() {
        let answer = if pipeline[0].name == "Get-Mailbox" {
            state.clone()
        } else {
            done()
        };
        shell = shell.on(pipeline.clone(), answer);
    }
    shell
}

#[test]
fn one_failing_order_does_not_stop_the_others() {
    let shell = FakeShell::new()
        .on(
            one_call("Disable-Mailbox -Identity 'a' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'b' -Confirm $false"),
            remote(
                "Active Directory operation failed on dc01. The object is protected.",
                "ADOperationException,DisableMailbox",
            ),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'c' -Confirm $false"),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![ErrorRecord {
                    message: "Insufficient rights.".into(),
                    fully_qualified_error_id: "Denied,DisableMailbox".into(),
                    category: "PermissionDenied".into(),
                    target: None,
                }],
                warnings: vec![],
            },
        )
        .on(
            one_call("Disable-Mailbox -Identity 'd' -Confirm $false"),
            done(),
        );
    let orders = ["a", "b", "c", "d"]
        .map(|sam| {
            order(
                sam,
                ChangeType::Deleted,
                MAILBOX,
                vec![],
                vec![("SamAccountName", t(sam))],
            )
        })
        .to_vec();
    let reporter = RecordingReporter::default();
    let results = run(&shell, &reporter, &request(orders)).unwrap();
    assert_eq!(results.len(), 4);
    executed(&results[0]);
    assert_eq!(
        errored(&results[1]),
        "Disable-Mailbox failed: Active Directory operation failed on dc01. The object is protected. (ADOperationException,DisableMailbox)"
    );
    assert_eq!(
        errored(&results[2]),
        "Disable-Mailbox failed: Insufficient rights. (Denied,DisableMailbox)"
    );
    executed(&results[3]);
    assert_eq!(
        reporter.counts(),
        vec![(1, Some(4)), (2, Some(4)), (3, Some(4)), (4, Some(4))]
    );
}

#[test]
fn orders_that_cannot_be_understood_are_errored_clearly() {
    let shell = FakeShell::new();
    let results = run_orders(
        &shell,
        vec![
            order(
                "1",
                ChangeType::Added,
                MAILBOX,
                vec![("Alias", t("x"))],
                vec![],
            ),
            order(
                "2",
                ChangeType::Other("Renamed".into()),
                MAILBOX,
                vec![],
                vec![("SamAccountName", t("x"))],
            ),
            order("3", ChangeType::Added, "Directory_User", vec![], vec![]),
            order("4", ChangeType::Deleted, DATABASE, vec![], vec![]),
            order(
                "5",
                ChangeType::Added,
                DATABASE,
                vec![("Server", t("EXCH01"))],
                vec![],
            ),
        ],
    );
    assert_eq!(
        errored(&results[0]),
        "the order has no Guid or SamAccountName in Changes or Resource, so the mailbox cannot be identified"
    );
    assert_eq!(
        errored(&results[1]),
        "unknown change type `Renamed`: expected Added, Modified or Deleted"
    );
    assert!(errored(&results[2]).starts_with("unknown target entity type `Directory_User`"));
    assert!(errored(&results[3]).contains("no Guid or Name in Changes or Resource"));
    assert!(errored(&results[4]).contains("no Name in Changes"));
    assert!(shell.calls.borrow().is_empty());
}

#[test]
fn mapped_entity_types_are_honoured_and_bad_mappings_refused() {
    let shell = FakeShell::new().on(
        one_call("Disable-Mailbox -Identity 'x' -Confirm $false"),
        done(),
    );
    let mut req = request(vec![order(
        "1",
        ChangeType::Deleted,
        "Exchange_Box",
        vec![],
        vec![("SamAccountName", t("x"))],
    )]);
    req.entity_types = vec![("Exchange_Box".into(), "Mailbox".into())];
    let results = run(&shell, &RecordingReporter::default(), &req).unwrap();
    executed(&results[0]);
    req.entity_types = vec![("Exchange_Box".into(), "user".into())];
    let error = run(&shell, &RecordingReporter::default(), &req).unwrap_err();
    assert!(
        error.contains("map it to `mailbox` or `database`"),
        "{error}"
    );
}

#[test]
fn a_denied_cmdlet_is_errored_with_the_reason() {
    let shell = FakeShell::new().on(
        one_call("Disable-Mailbox -Identity 'x' -Confirm $false"),
        Answer::Refused(Error::Denied(
            "Disable-Mailbox is not granted to this job".into(),
        )),
    );
    let results = run_orders(
        &shell,
        vec![order(
            "1",
            ChangeType::Deleted,
            MAILBOX,
            vec![],
            vec![("SamAccountName", t("x"))],
        )],
    );
    assert_eq!(
        errored(&results[0]),
        "Disable-Mailbox was denied by the host: Disable-Mailbox is not granted to this job (this job is not granted the cmdlet)"
    );
}
