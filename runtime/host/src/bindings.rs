//! Host-side bindings of the connector world (`wit/since_v0.2.0/connector.wit`).

wasmtime::component::bindgen!({
    world: "connector",
    path: "../../wit/since_v0.2.0",
    with: {
        "idconn:connector/powershell.output": crate::sandbox::OutputHandle,
    },
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use exports::idconn::connector::exporter::{ExportRequest, ExportSummary};
pub use exports::idconn::connector::fulfiller;
pub use idconn::connector::powershell::{
    Argument, Command, Error as CallError, ErrorRecord, Parameter,
};
pub use idconn::connector::report::Level;
pub use idconn::connector::types::{
    Batch, BatchObject, Cell, Element, Entry, NestedObject, Scalar, Shape, Span, Value,
};
