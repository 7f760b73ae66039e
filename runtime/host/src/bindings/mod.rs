//! Host-side bindings of every connector contract this host supports, side
//! by side: one module per contract version (`since_v0_2_0`,
//! `since_v0_3_0`, `since_v0_4_0`), each generated from its own frozen WIT
//! directory and converting its types into the latest contract's, which the
//! rest of the host uses. A component is linked against the world it was
//! built for, so a component built years ago keeps running unchanged.

pub mod cells;
mod convert;
pub mod since_v0_2_0;
pub mod since_v0_3_0;
pub mod since_v0_4_0;

use std::fmt;

/// A connector contract version this host can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContractVersion {
    V0_2_0,
    V0_3_0,
    V0_4_0,
}

impl ContractVersion {
    /// Oldest first.
    pub const SUPPORTED: [ContractVersion; 3] = [
        ContractVersion::V0_2_0,
        ContractVersion::V0_3_0,
        ContractVersion::V0_4_0,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_2_0 => "0.2.0",
            ContractVersion::V0_3_0 => "0.3.0",
            ContractVersion::V0_4_0 => "0.4.0",
        }
    }

    pub fn parse(text: &str) -> Option<ContractVersion> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == text)
    }

    /// "0.2.0, 0.3.0 and 0.4.0", for messages refusing another version.
    pub fn supported_list() -> String {
        let names: Vec<&str> = Self::SUPPORTED.iter().map(|v| v.as_str()).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// The retryable error patterns a component of this contract gets when
    /// its manifest cannot declare them (0.2.0 manifests cannot).
    pub fn implied_retryable_errors(self) -> &'static [&'static str] {
        match self {
            ContractVersion::V0_2_0 => since_v0_2_0::RETRYABLE_ERRORS,
            ContractVersion::V0_3_0 | ContractVersion::V0_4_0 => &[],
        }
    }

    /// The entity kinds a component of this contract exports when its
    /// manifest cannot say (0.2.0 manifests have no `entities`).
    pub fn implied_entities(self) -> &'static [&'static str] {
        match self {
            ContractVersion::V0_2_0 => since_v0_2_0::ENTITY_KINDS,
            ContractVersion::V0_3_0 | ContractVersion::V0_4_0 => &[],
        }
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which contract a component's export names say it targets: `Ok` for a
/// supported one, else an error naming the version it targets and the ones
/// this host supports.
pub fn contract_of(export_names: &[String]) -> Result<ContractVersion, String> {
    if export_names
        .iter()
        .any(|e| e == since_v0_4_0::OPERATIONS_EXPORT)
    {
        return Ok(ContractVersion::V0_4_0);
    }
    if export_names
        .iter()
        .any(|e| e == since_v0_3_0::OPERATIONS_EXPORT)
    {
        return Ok(ContractVersion::V0_3_0);
    }
    if export_names
        .iter()
        .any(|e| e == since_v0_2_0::EXPORTER_EXPORT)
    {
        return Ok(ContractVersion::V0_2_0);
    }
    let supported = ContractVersion::supported_list();
    let targeted = export_names.iter().find_map(|name| {
        let (pkg, rest) = name.split_once('/')?;
        let (_, version) = rest.split_once('@')?;
        pkg.starts_with("idconn:")
            .then(|| format!("{pkg}@{version}"))
    });
    Err(match targeted {
        Some(pkg) => format!(
            "this component targets {}; this idconn supports {supported}",
            idconn_psrp::untrusted::for_log(&pkg, 128)
        ),
        None => format!(
            "this component exports no idconn:connector world (it exports {}); this idconn supports {supported}",
            idconn_psrp::untrusted::for_log(&export_names.join(", "), 512)
        ),
    })
}

// The latest contract's types: what the backends, the sandbox and the jobs
// use whatever the version of the component they run.
pub use cells::Cell;
pub use since_v0_4_0::exports::idconn::connector::operations::{
    self as latest_operations, CheckReport, CheckRequest, ExportRequest, ExportSummary, Failure,
    FulfillRequest,
};
pub use since_v0_4_0::idconn::connector::report::{Level, ProgressUpdate};
pub use since_v0_4_0::idconn::powershell::shell::{
    Argument, Command, Error as CallError, ErrorRecord, Parameter, Retry,
};
pub use since_v0_4_0::idconn::powershell::values::{
    Batch, BatchObject, Cells, Element, NestedObject, Scalar, Shape, Span, Value,
};

/// The fulfill types, under the name the host always used for them.
pub mod fulfiller {
    pub use super::since_v0_4_0::exports::idconn::connector::operations::{
        ChangeType, Field, FulfillRequest, Order, OrderResult, ProvisioningState,
    };
}

impl ExportSummary {
    /// Objects written of one entity kind (0 when the connector did not report it).
    pub fn count(&self, kind: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Objects written, all kinds together.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .map(|(_, n)| *n)
            .fold(0, u64::saturating_add)
    }

    /// `12 mailbox, 3 database`: the counts in the connector's order.
    pub fn counts_text(&self) -> String {
        if self.counts.is_empty() {
            return "no objects".into();
        }
        self.counts
            .iter()
            .map(|(k, n)| format!("{n} {}", idconn_psrp::untrusted::for_log(k, 64)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `export (complete): 12 mailbox, 3 database; 15 inserts, 0 updates,
    /// 0 deletes`: what `record` and `test` report of an export.
    pub fn describe(&self) -> String {
        format!(
            "export ({}): {}; {} inserts, {} updates, {} deletes",
            if self.complete {
                "complete"
            } else {
                "incremental"
            },
            self.counts_text(),
            self.inserts,
            self.updates,
            self.deletes
        )
    }

    /// The counts as a JSON object keyed by entity kind.
    pub fn counts_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, n) in &self.counts {
            let entry = map
                .entry(k.clone())
                .or_insert(serde_json::Value::from(0u64));
            *entry = serde_json::Value::from(entry.as_u64().unwrap_or(0).saturating_add(*n));
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_is_read_from_the_export_names() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            contract_of(&names(&["idconn:connector/operations@0.4.0"])),
            Ok(ContractVersion::V0_4_0)
        );
        assert_eq!(
            contract_of(&names(&["idconn:connector/operations@0.3.0"])),
            Ok(ContractVersion::V0_3_0)
        );
        assert_eq!(
            contract_of(&names(&[
                "idconn:connector/exporter@0.2.0",
                "idconn:connector/fulfiller@0.2.0"
            ])),
            Ok(ContractVersion::V0_2_0)
        );
        assert_eq!(
            contract_of(&names(&["idconn:connector/exporter@0.1.0"])),
            Err("this component targets idconn:connector@0.1.0; this idconn supports 0.2.0, 0.3.0 and 0.4.0".into())
        );
        let e = contract_of(&names(&["run"])).unwrap_err();
        assert!(e.contains("exports no idconn:connector world"), "{e}");
        assert!(
            e.ends_with("this idconn supports 0.2.0, 0.3.0 and 0.4.0"),
            "{e}"
        );
    }

    #[test]
    fn counts_are_keyed_by_entity_kind() {
        let s = ExportSummary {
            complete: true,
            counts: vec![
                ("widget".into(), 3),
                ("gadget".into(), 2),
                ("widget".into(), 1),
            ],
            inserts: 0,
            updates: 0,
            deletes: 0,
        };
        assert_eq!(s.count("widget"), 4);
        assert_eq!(s.count("other"), 0);
        assert_eq!(s.total(), 6);
        assert_eq!(s.counts_text(), "3 widget, 2 gadget, 1 widget");
        assert_eq!(
            s.counts_json(),
            serde_json::json!({"widget": 4, "gadget": 2})
        );
    }
}
