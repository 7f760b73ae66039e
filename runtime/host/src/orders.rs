//! Usercube's provisioning order files, read into the contract's typed
//! orders (`fulfiller::order`).
//!
//! A file that is not `{"ProvisioningOrdersList":[...]}` is malformed as a
//! whole and stays where it is; an order that cannot be converted is
//! answered `Errored` by the host without reaching the component, so one bad
//! order never costs the others of its file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value};

use crate::bindings::fulfiller::{ChangeType, Field, Order};
use crate::settings::json_kind as kind;

/// The key of the orders array in a file.
const ORDERS_KEY: &str = "ProvisioningOrdersList";

/// What the results file needs of an order, even one that could not be
/// converted.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderHeader {
    pub assignment_id: String,
    /// The `ChangeType` text as the order holds it.
    pub change_type: String,
    pub owner_id: String,
    pub owner_type: String,
}

#[derive(Debug, Clone)]
pub struct ParsedOrder {
    pub header: OrderHeader,
    /// The typed order, or why it cannot be fulfilled (naming the field).
    pub order: Result<Order, String>,
}

/// One well-formed order file.
#[derive(Debug)]
pub struct OrderFile {
    pub path: PathBuf,
    pub orders: Vec<ParsedOrder>,
}

/// A file left in place because it is not an order file.
#[derive(Debug)]
pub struct MalformedFile {
    pub path: PathBuf,
    pub error: String,
}

/// Every `*.json` of an orders directory, sorted by name.
#[derive(Debug, Default)]
pub struct OrderBatch {
    pub files: Vec<OrderFile>,
    pub malformed: Vec<MalformedFile>,
}

impl OrderBatch {
    /// Reads the order files directly in `dir` (not in `Completed/`).
    /// Only an unreadable directory is an error; a bad file is recorded in
    /// `malformed` and logged.
    pub fn load(dir: &Path) -> anyhow::Result<OrderBatch> {
        let entries = fs::read_dir(dir).with_context(|| {
            format!(
                "cannot read the orders directory {}; pass an existing directory with --orders",
                dir.display()
            )
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry =
                entry.with_context(|| format!("cannot list the orders in {}", dir.display()))?;
            let path = entry.path();
            let is_json = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            if is_json && entry.file_type().is_ok_and(|t| t.is_file()) {
                paths.push(path);
            }
        }
        paths.sort();
        let mut batch = OrderBatch::default();
        for path in paths {
            let parsed = fs::read(&path)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|bytes| parse_file(&bytes));
            match parsed {
                Ok(orders) => batch.files.push(OrderFile { path, orders }),
                Err(error) => {
                    tracing::warn!(
                        "order file {} is malformed and stays in place: {error}",
                        path.display()
                    );
                    batch.malformed.push(MalformedFile { path, error });
                }
            }
        }
        Ok(batch)
    }

    pub fn order_count(&self) -> usize {
        self.files.iter().map(|f| f.orders.len()).sum()
    }
}

/// Parses one file's text. `Err` says why the file as a whole is unusable.
pub fn parse_file(bytes: &[u8]) -> Result<Vec<ParsedOrder>, String> {
    // Windows tools often write a BOM; it is not an error in the file.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let list = root
        .as_object()
        .and_then(|o| o.get(ORDERS_KEY))
        .ok_or_else(|| format!("expected an object {{\"{ORDERS_KEY}\": [ ... ]}}"))?;
    let list = list
        .as_array()
        .ok_or_else(|| format!("\"{ORDERS_KEY}\" must be an array of orders"))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, v)| parse_order(i, v))
        .collect())
}

/// Converts one order. Never fails as a whole: what is missing or wrong
/// ends up in `order` as an error.
pub fn parse_order(index: usize, value: &Value) -> ParsedOrder {
    let Some(obj) = value.as_object() else {
        return ParsedOrder {
            header: OrderHeader {
                assignment_id: String::new(),
                change_type: String::new(),
                owner_id: String::new(),
                owner_type: String::new(),
            },
            order: Err(format!("order #{} is not a JSON object", index + 1)),
        };
    };
    let header = OrderHeader {
        assignment_id: id_at(obj, &["AssignedResourceTypeId"]).unwrap_or_default(),
        change_type: id_at(obj, &["ChangeType"]).unwrap_or_default(),
        owner_id: id_at(obj, &["Owner", "Id"]).unwrap_or_default(),
        owner_type: id_at(obj, &["ResourceType", "SourceEntityType", "Id"]).unwrap_or_default(),
    };
    let order = typed_order(obj, &header);
    ParsedOrder { header, order }
}

fn typed_order(obj: &Map<String, Value>, header: &OrderHeader) -> Result<Order, String> {
    let required = |path: &[&str]| {
        id_at(obj, path)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("the order has no {}", path.join(".")))
    };
    required(&["AssignedResourceTypeId"])?;
    required(&["ChangeType"])?;
    let target_entity_type = required(&["ResourceType", "TargetEntityType", "Identifier"])?;
    let change_type = match header.change_type.as_str() {
        "Added" => ChangeType::Added,
        "Modified" => ChangeType::Modified,
        "Deleted" => ChangeType::Deleted,
        other => ChangeType::Other(other.to_string()),
    };
    Ok(Order {
        assignment_id: header.assignment_id.clone(),
        change_type,
        target_entity_type,
        resource_type: id_at(obj, &["ResourceType", "Identifier"]).unwrap_or_default(),
        owner_id: header.owner_id.clone(),
        owner_type: header.owner_type.clone(),
        changes: fields(obj, "Changes")?,
        resource: fields(obj, "Resource")?,
    })
}

/// A string or number at `path` (ids arrive either way), as text.
fn id_at(obj: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let mut current = obj;
    for key in parents {
        current = current.get(*key)?.as_object()?;
    }
    match current.get(*last)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Changes` or `Resource` as fields; absent or null is empty.
fn fields(obj: &Map<String, Value>, section: &str) -> Result<Vec<(String, Field)>, String> {
    match obj.get(section) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| Ok((name.clone(), field(section, name, value)?)))
            .collect(),
        Some(_) => Err(format!("{section} must be an object of fields")),
    }
}

fn field(section: &str, name: &str, value: &Value) -> Result<Field, String> {
    Ok(match value {
        Value::Null => Field::Null,
        Value::Bool(b) => Field::Boolean(*b),
        Value::String(s) => Field::Text(s.clone()),
        Value::Number(n) => Field::Number(n.as_f64().ok_or_else(|| {
            format!("{section}.{name}: the number {n} is out of range")
        })?),
        Value::Array(items) => Field::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    leaf_text(item).ok_or_else(|| {
                        format!(
                            "{section}.{name}[{i}]: a multi-valued field holds only strings, found {}",
                            kind(item)
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        // A navigation property: its members, which must be plain values
        // (WIT has no recursive types, and Usercube sends one level).
        Value::Object(members) => {
            let mut pairs = Vec::with_capacity(members.len());
            for (member, v) in members {
                if v.is_null() {
                    continue;
                }
                let text = leaf_text(v).ok_or_else(|| {
                    format!(
                        "{section}.{name}.{member}: a navigation property holds only plain values, found {}",
                        kind(v)
                    )
                })?;
                pairs.push((member.clone(), text));
            }
            Field::Reference(pairs)
        }
    })
}

/// A string, number or boolean as text.
fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOND: &str = r#"{"ProvisioningOrdersList":[
      {"AssignedResourceTypeId":3930001,"ChangeType":"Added","WorkflowInstanceId":"81",
       "Owner":{"Id":"21511","InternalDisplayName":"007 - Bond James"},
       "ResourceType":{"Id":"-41","SourceEntityType":{"Id":51,"Identifier":"Directory_User"},
         "TargetEntityType":{"Id":"70","Identifier":"Sample_Mailbox"},
         "Identifier":"Sample_Mailbox_NominativeUser"},
       "Changes":{"SamAccountName":"jbond","Database":{"Name":"DB01","Id":7,"Extra":null},
         "EmailAddresses_add":["smtp:007@contoso.com"],"IsShared":false,"Quota":1.5,"Alias":null},
       "Resource":{"SamAccountName":"jbond"}}]}"#;

    #[test]
    fn a_usercube_order_becomes_a_typed_order() {
        let orders = parse_file(BOND.as_bytes()).unwrap();
        assert_eq!(orders.len(), 1);
        let parsed = &orders[0];
        assert_eq!(
            parsed.header,
            OrderHeader {
                assignment_id: "3930001".into(),
                change_type: "Added".into(),
                owner_id: "21511".into(),
                owner_type: "51".into(),
            }
        );
        let order = parsed.order.as_ref().unwrap();
        assert!(matches!(order.change_type, ChangeType::Added));
        assert_eq!(order.target_entity_type, "Sample_Mailbox");
        assert_eq!(order.resource_type, "Sample_Mailbox_NominativeUser");
        let get = |name: &str| {
            order
                .changes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f.clone())
                .unwrap()
        };
        assert!(matches!(get("SamAccountName"), Field::Text(s) if s == "jbond"));
        assert!(
            matches!(get("Database"), Field::Reference(p) if p == vec![("Name".to_string(), "DB01".to_string()), ("Id".to_string(), "7".to_string())])
        );
        assert!(
            matches!(get("EmailAddresses_add"), Field::List(l) if l == vec!["smtp:007@contoso.com".to_string()])
        );
        assert!(matches!(get("IsShared"), Field::Boolean(false)));
        assert!(matches!(get("Quota"), Field::Number(n) if n == 1.5));
        assert!(matches!(get("Alias"), Field::Null));
        assert_eq!(order.resource.len(), 1);
    }

    #[test]
    fn unknown_change_types_pass_through_for_the_component_to_report() {
        let text = BOND.replace("\"Added\"", "\"Renamed\"");
        let orders = parse_file(text.as_bytes()).unwrap();
        let order = orders[0].order.as_ref().unwrap();
        assert!(matches!(&order.change_type, ChangeType::Other(t) if t == "Renamed"));
    }

    #[test]
    fn a_bom_is_accepted() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(BOND.as_bytes());
        assert_eq!(parse_file(&bytes).unwrap().len(), 1);
    }

    #[test]
    fn a_file_of_the_wrong_shape_is_malformed() {
        for (text, expected) in [
            ("{not json", "not valid JSON at line 1"),
            ("[]", "expected an object"),
            (r#"{"Orders":[]}"#, "expected an object"),
            (r#"{"ProvisioningOrdersList":{}}"#, "must be an array"),
        ] {
            let e = parse_file(text.as_bytes()).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn an_order_that_cannot_be_converted_names_the_field() {
        let cases = [
            (
                BOND.replace("\"ChangeType\":\"Added\",", ""),
                "no ChangeType",
            ),
            (
                BOND.replace("\"Identifier\":\"Sample_Mailbox\"", "\"X\":1"),
                "no ResourceType.TargetEntityType.Identifier",
            ),
            (
                BOND.replace("\"Id\":7", "\"Id\":{\"deep\":1}"),
                "Changes.Database.Id: a navigation property holds only plain values, found an object",
            ),
            (
                BOND.replace("[\"smtp:007@contoso.com\"]", "[\"a\",[\"b\"]]"),
                "Changes.EmailAddresses_add[1]: a multi-valued field holds only strings",
            ),
            (
                BOND.replace("\"Resource\":{\"SamAccountName\":\"jbond\"}", "\"Resource\":[1]"),
                "Resource must be an object",
            ),
        ];
        for (text, expected) in cases {
            let orders = parse_file(text.as_bytes()).unwrap();
            let error = orders[0].order.as_ref().unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
            // The results file still gets its columns.
            assert_eq!(orders[0].header.assignment_id, "3930001");
        }
    }

    #[test]
    fn an_order_that_is_not_an_object_is_errored_alone() {
        let orders = parse_file(br#"{"ProvisioningOrdersList":[42]}"#).unwrap();
        assert_eq!(orders.len(), 1);
        assert!(orders[0]
            .order
            .as_ref()
            .unwrap_err()
            .contains("order #1 is not a JSON object"));
    }

    #[test]
    fn load_reads_json_files_sorted_and_sets_aside_malformed_ones() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.json"), BOND).unwrap();
        fs::write(dir.path().join("a.JSON"), BOND).unwrap();
        fs::write(dir.path().join("c.json"), "{").unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        fs::create_dir(dir.path().join("Completed")).unwrap();
        fs::write(dir.path().join("Completed").join("old.json"), BOND).unwrap();
        let batch = OrderBatch::load(dir.path()).unwrap();
        let names: Vec<_> = batch
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.JSON", "b.json"]);
        assert_eq!(batch.order_count(), 2);
        assert_eq!(batch.malformed.len(), 1);
        assert!(batch.malformed[0].path.ends_with("c.json"));
        assert!(batch.malformed[0].error.contains("not valid JSON"));
    }
}
