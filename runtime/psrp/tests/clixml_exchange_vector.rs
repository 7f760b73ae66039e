//! The `<Obj>` a real Exchange 2016 server sent for `Get-Mailbox` decodes
//! with the kinds Exchange gave each property.

use idconn_psrp::clixml::{self, PsObject, Value};

const VECTOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/exchange/get-mailbox-exchange2016.clixml"
);

fn mailbox() -> (Value, Vec<u8>) {
    let bytes = std::fs::read(VECTOR).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
    let value = clixml::from_bytes(&bytes).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
    (value, bytes)
}

fn prop<'a>(obj: &'a PsObject, name: &str) -> &'a Value {
    obj.property(name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

#[test]
fn mailbox_properties_have_exchange_kinds() {
    let (value, _) = mailbox();
    let obj = value.as_object().expect("top level is an Obj");
    assert_eq!(obj.to_string.as_deref(), Some("Administrator"));
    assert_eq!(value.to_display_string().as_deref(), Some("Administrator"));
    assert_eq!(
        obj.type_names.first().map(String::as_str),
        Some("Microsoft.Exchange.Data.Directory.Management.Mailbox")
    );
    assert_eq!(
        obj.type_names.last().map(String::as_str),
        Some("System.Object")
    );
    assert!(obj.adapted.len() > 150, "{} properties", obj.adapted.len());
    assert!(obj.extended.is_empty());

    assert_eq!(prop(obj, "Database"), &Value::from("Ex2016-DB2"));
    assert_eq!(
        prop(obj, "Identity"),
        &Value::from("test.com/Users/Administrator")
    );
    assert_eq!(
        prop(obj, "PrimarySmtpAddress"),
        &Value::from("Administrator@test.com")
    );
    assert_eq!(prop(obj, "ProhibitSendQuota"), &Value::from("Unlimited"));
    assert_eq!(
        prop(obj, "RecoverableItemsQuota"),
        &Value::from("30 GB (32,212,254,720 bytes)")
    );
    assert_eq!(prop(obj, "RetentionComment"), &Value::from(""));
    assert_eq!(prop(obj, "ForwardingAddress"), &Value::Nil);
    assert_eq!(prop(obj, "IsMailboxEnabled"), &Value::Bool(true));
    assert_eq!(prop(obj, "IsResource"), &Value::Bool(false));
    assert_eq!(
        prop(obj, "WhenChangedUTC"),
        &Value::DateTime("2022-10-31T01:01:36Z".into())
    );
    assert_eq!(
        prop(obj, "WhenChanged"),
        &Value::DateTime("2022-10-30T18:01:36-07:00".into())
    );
    assert_eq!(
        prop(obj, "Guid"),
        &Value::Guid("c07d2fbc-48f5-4a90-b7d7-5ec79d2844b4".into())
    );
    assert_eq!(
        prop(obj, "ExchangeGuid"),
        &Value::Guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2".into())
    );

    let addresses = prop(obj, "EmailAddresses").as_object().expect("an Obj");
    assert_eq!(
        addresses.type_names.first().map(String::as_str),
        Some("Microsoft.Exchange.Data.ProxyAddressCollection")
    );
    assert_eq!(
        addresses.list(),
        Some(&[Value::from("SMTP:Administrator@test.com")][..])
    );

    let languages = prop(obj, "Languages").as_list().expect("a list");
    let culture = languages[0].as_object().expect("a CultureInfo");
    assert_eq!(culture.property("LCID"), Some(&Value::I32(1033)));
    assert_eq!(culture.to_string.as_deref(), Some("en-US"));
}

#[test]
fn type_name_refs_resolve_to_the_defined_lists() {
    let (value, _) = mailbox();
    let obj = value.as_object().expect("an Obj");
    // `ResourceCustom` carries `<TNRef RefId="6" />`, defined by `ProtocolSettings`.
    let custom = prop(obj, "ResourceCustom").as_object().expect("an Obj");
    let protocol = prop(obj, "ProtocolSettings").as_object().expect("an Obj");
    assert!(std::sync::Arc::ptr_eq(
        &custom.type_names,
        &protocol.type_names
    ));
    assert_eq!(custom.list(), Some(&[][..]));
    assert_eq!(
        protocol.list(),
        Some(&[Value::from("RemotePowerShell§1")][..])
    );
}

#[test]
fn reserialized_mailbox_decodes_to_the_same_value() {
    let (value, bytes) = mailbox();
    let xml = clixml::to_string(&value);
    assert_eq!(
        clixml::from_str(&xml).expect("re-encoded mailbox decodes"),
        value
    );
    // Type-name lists are shared through `<TNRef>` again, so the size stays
    // close to Exchange's own.
    assert!(
        xml.len() < bytes.len() + bytes.len() / 10,
        "{} vs {}",
        xml.len(),
        bytes.len()
    );
    assert_eq!(xml.matches("<TNRef ").count(), 28);
}
