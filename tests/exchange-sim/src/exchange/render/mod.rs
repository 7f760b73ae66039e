//! Directory records to CLIXML values, shaped like Exchange 2016's output.
//! Type-name lists are built once and shared (`Arc`) by every object, so
//! rendering 100,000 mailboxes costs no type-name allocation.

mod database;
mod mailbox;
pub mod mailbox_props;

pub use database::{database_object, database_property, DATABASE_PROPERTIES};
pub use mailbox::{mailbox_object, mailbox_property};

use super::model::{AdUser, MailboxDatabase};
use super::text::{byte_quantity, unlimited_bytes};
use super::SerializationLevel;
use chrono::FixedOffset;
use idconn_psrp::clixml::{Collection, CollectionKind, PsObject, Value};
use std::sync::{Arc, LazyLock};

/// A mailbox as a pipeline carries it: the user record and its database,
/// both snapshots taken when the object was read.
#[derive(Debug, Clone)]
pub struct MailboxView {
    pub user: Arc<AdUser>,
    pub database: Option<Arc<MailboxDatabase>>,
}

/// A database as read, and whether `-Status` asked for live state.
#[derive(Debug, Clone)]
pub struct DatabaseView {
    pub database: Arc<MailboxDatabase>,
    pub with_status: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct RenderCtx {
    pub level: SerializationLevel,
    pub offset: FixedOffset,
}

/// The .NET multi-valued property types seen in Exchange's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mv {
    ProvisioningConstraints,
    Guids,
    Cultures,
    Strings,
    Bytes,
    Capabilities,
    AuditOperations,
    AdObjectIds,
    ProxyAddresses,
    MailboxLocations,
}

const MV_ALL: [Mv; 10] = [
    Mv::ProvisioningConstraints,
    Mv::Guids,
    Mv::Cultures,
    Mv::Strings,
    Mv::Bytes,
    Mv::Capabilities,
    Mv::AuditOperations,
    Mv::AdObjectIds,
    Mv::ProxyAddresses,
    Mv::MailboxLocations,
];

fn mv_type_names(mv: Mv) -> &'static [&'static str] {
    match mv {
        Mv::ProvisioningConstraints => &[
            "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.MailboxProvisioningConstraint, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.MailboxProvisioningConstraint, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::Guids => &[
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.Guid, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::Cultures => &[
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.Globalization.CultureInfo, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::Strings => &[
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::Bytes => &[
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.Byte[], mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::Capabilities => &[
            "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.Capability, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.Capability, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::AuditOperations => &[
            "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.MailboxAuditOperations, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.MailboxAuditOperations, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::AdObjectIds => &[
            "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::ProxyAddresses => &[
            "Microsoft.Exchange.Data.ProxyAddressCollection",
            "Microsoft.Exchange.Data.ProxyAddressBaseCollection`1[[Microsoft.Exchange.Data.ProxyAddress, Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.ProxyAddress, Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "Microsoft.Exchange.Data.MultiValuedPropertyBase",
            "System.Object",
        ],
        Mv::MailboxLocations => &[
            "System.Collections.Generic.List`1[[Microsoft.Exchange.Data.Directory.IMailboxLocationInfo, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
            "System.Object",
        ],
    }
}

pub struct TypeNames {
    pub mailbox: Arc<[String]>,
    pub database: Arc<[String]>,
    mv: Vec<Arc<[String]>>,
    pub culture_info: Arc<[String]>,
    pub ad_object_id: Arc<[String]>,
    pub unlimited_size: Arc<[String]>,
    pub byte_quantified_size: Arc<[String]>,
    pub measure_info: Arc<[String]>,
    pub move_request: Arc<[String]>,
}

fn names(list: &[&str]) -> Arc<[String]> {
    list.iter().map(|s| s.to_string()).collect()
}

pub static TYPES: LazyLock<TypeNames> = LazyLock::new(|| {
    TypeNames {
    mailbox: names(&[
        "Microsoft.Exchange.Data.Directory.Management.Mailbox",
        "Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson",
        "Microsoft.Exchange.Data.Directory.Management.MailEnabledRecipient",
        "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
        "Microsoft.Exchange.Data.Directory.ADObject",
        "Microsoft.Exchange.Data.Directory.ADRawEntry",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ]),
    database: names(&[
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase",
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.Database",
        "Microsoft.Exchange.Data.Directory.ADLegacyVersionableObject",
        "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
        "Microsoft.Exchange.Data.Directory.ADObject",
        "Microsoft.Exchange.Data.Directory.ADRawEntry",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ]),
    mv: MV_ALL.iter().map(|mv| names(mv_type_names(*mv))).collect(),
    culture_info: names(&["System.Globalization.CultureInfo", "System.Object"]),
    ad_object_id: names(&[
        "Microsoft.Exchange.Data.Directory.ADObjectId",
        "Microsoft.Exchange.Data.ObjectId",
        "System.Object",
    ]),
    unlimited_size: names(&[
        "Microsoft.Exchange.Data.Unlimited`1[[Microsoft.Exchange.Data.ByteQuantifiedSize, Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
        "System.ValueType",
        "System.Object",
    ]),
    byte_quantified_size: names(&[
        "Microsoft.Exchange.Data.ByteQuantifiedSize",
        "System.ValueType",
        "System.Object",
    ]),
    measure_info: names(&[
        "Microsoft.PowerShell.Commands.GenericMeasureInfo",
        "Microsoft.PowerShell.Commands.MeasureInfo",
        "System.Object",
    ]),
    move_request: names(&[
        "Microsoft.Exchange.Management.RecipientTasks.MoveRequest",
        "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
        "Microsoft.Exchange.Data.Directory.ADObject",
        "Microsoft.Exchange.Data.Directory.ADRawEntry",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ]),
}
});

impl TypeNames {
    pub fn mv(&self, mv: Mv) -> Arc<[String]> {
        let index = MV_ALL.iter().position(|m| *m == mv).unwrap_or(0);
        self.mv
            .get(index)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }
}

pub fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// A multi-valued property: an `<Obj>` of its .NET type holding an `<LST>`.
pub fn mv_list(mv: Mv, items: Vec<Value>) -> Value {
    Value::Object(Box::new(PsObject {
        type_names: TYPES.mv(mv),
        collection: Some(Collection::List(CollectionKind::List, items)),
        ..PsObject::default()
    }))
}

/// An ADObjectId: its string form by default, a full object with
/// `serializationLevel=Full`.
pub fn ad_object_id(
    ctx: &RenderCtx,
    text: String,
    distinguished_name: impl FnOnce() -> String,
    guid: Option<&str>,
    name: &str,
) -> Value {
    if ctx.level == SerializationLevel::Default {
        return Value::String(text);
    }
    let dn = distinguished_name();
    let rdn = dn.split(',').next().unwrap_or_default().to_string();
    let mut adapted = vec![
        ("IsDeleted".to_string(), Value::Bool(false)),
        ("Rdn".to_string(), s(rdn)),
        ("DistinguishedName".to_string(), s(dn)),
        ("IsRelativeDn".to_string(), Value::Bool(false)),
        ("DomainId".to_string(), s(super::model::DOMAIN)),
    ];
    adapted.push((
        "ObjectGuid".to_string(),
        guid.map_or(Value::Nil, |g| Value::Guid(g.to_string())),
    ));
    adapted.push(("Name".to_string(), s(name)));
    Value::Object(Box::new(PsObject {
        type_names: TYPES.ad_object_id.clone(),
        to_string: Some(text),
        adapted,
        ..PsObject::default()
    }))
}

/// A quota or size: `Unlimited` / `2 GB (2,147,483,648 bytes)`, or the
/// `Unlimited<ByteQuantifiedSize>` object with `serializationLevel=Full`.
pub fn quota(ctx: &RenderCtx, bytes: Option<u64>) -> Value {
    let text = unlimited_bytes(bytes);
    if ctx.level == SerializationLevel::Default {
        return Value::String(text);
    }
    let value = bytes.map_or(Value::Nil, |b| {
        Value::Object(Box::new(PsObject {
            type_names: TYPES.byte_quantified_size.clone(),
            to_string: Some(byte_quantity(b)),
            ..PsObject::default()
        }))
    });
    Value::Object(Box::new(PsObject {
        type_names: TYPES.unlimited_size.clone(),
        to_string: Some(text),
        adapted: vec![
            ("IsUnlimited".to_string(), Value::Bool(bytes.is_none())),
            ("Value".to_string(), value),
        ],
        ..PsObject::default()
    }))
}

/// PowerShell's text for a value inside `@{...}` and for `-like` on
/// objects: the ToString of objects, lists joined by spaces.
pub fn display_text(value: &Value) -> String {
    match value {
        Value::Nil => String::new(),
        Value::String(s)
        | Value::DateTime(s)
        | Value::Guid(s)
        | Value::Decimal(s)
        | Value::Duration(s)
        | Value::Uri(s)
        | Value::Version(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::Double(n) => n.to_string(),
        Value::Object(o) => match (&o.to_string, &o.collection) {
            (Some(t), _) => t.clone(),
            (None, Some(Collection::List(_, items))) => {
                items.iter().map(display_text).collect::<Vec<_>>().join(" ")
            }
            _ => o.type_names.first().cloned().unwrap_or_default(),
        },
        other => format!("{other:?}"),
    }
}
