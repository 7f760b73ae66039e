//! The connector SDK for idconn's 0.4.0 contract (`wit/since_v0.4.0`).
//!
//! A connector implements [`Connector`] generically over a [`Shell`] and a
//! [`Reporter`], exports it with [`export_connector!`] and declares its
//! manifest with [`manifest!`]. The same code then runs in the sandbox (over
//! the host's imports) and natively in `cargo test`, against the scripted
//! shell of [`testing`]. See components/sdk/README.md.
//!
//! The bindings are generated here, once: a connector crate needs neither
//! `wit-bindgen` nor a copy of the WIT files.

// The export macro and the bindings name this crate by its path, which
// must also resolve inside the crate itself.
extern crate self as idconn_sdk;

/// The generated bindings of the `connector` world. Use the re-exports at
/// the crate root rather than these paths.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector",
        path: "../../wit/since_v0.4.0",
        // The powershell package is a dependency of the world: bind it too.
        generate_all,
        // Commands are compared with the script in native tests.
        additional_derives: [PartialEq],
        // The export macro is used by connector crates, which reach the
        // bindings and wit-bindgen's runtime through this crate.
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "idconn_sdk::bindings",
        runtime_path: "idconn_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

pub mod batch;
pub mod builder;
pub mod cells;
pub mod command;
pub mod manifest;
pub mod row;
pub mod shell;
pub mod testing;

pub use bindings::exports::idconn::connector::operations::{
    ChangeType, CheckReport, CheckRequest, ExportRequest, ExportSummary, Failure, Field,
    FulfillRequest, Order, OrderResult, ProvisioningState,
};
pub use bindings::idconn::connector::report::{Level, ProgressUpdate};
pub use bindings::idconn::powershell::shell::{
    Argument, Command, Error, ErrorRecord, Parameter, Retry,
};
pub use bindings::idconn::powershell::values::{
    Batch, BatchObject, Cells, Element, NestedObject, Scalar, Shape, Span, Value,
};
pub use cells::{Cell, CellsRef};
pub use command::{command, pipeline_text, CommandBuilder};
pub use shell::{
    describe_error, describe_record, HostReporter, HostShell, PipelineOutput, Reporter, Shell,
};

/// The contract version this SDK builds components for; the `manifest!`
/// macro writes it as the manifest's `contract`.
pub const CONTRACT: &str = "0.4.0";

/// A connector's operations, generic over the shell and the reporter so
/// that tests run them natively with [`testing::FakeShell`].
pub trait Connector {
    /// Exports the connector's entities to CSV files in the request's
    /// output directory.
    fn export<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: ExportRequest,
    ) -> Result<ExportSummary, Failure>;

    /// Fulfills provisioning orders: one result per order, in order.
    fn fulfill<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: FulfillRequest,
    ) -> Result<Vec<OrderResult>, Failure>;

    /// Tests the connection with read-only cmdlets.
    fn check<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: CheckRequest,
    ) -> Result<CheckReport, Failure>;
}

impl Failure {
    /// A failure that running the operation again will not cure.
    pub fn fatal(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure that running the operation again later may cure (the
    /// server throttled, the connection dropped).
    pub fn retryable(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Lets `?` turn the `String` errors of a connector's helpers into a
/// (not retryable) failure.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::fatal(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::fatal(message)
    }
}

/// Exports a [`Connector`] as the component's `operations`, over the host's
/// shell and reporter. Use it once, in the connector crate's `lib.rs`:
///
/// ```ignore
/// struct MyConnector;
/// impl idconn_sdk::Connector for MyConnector { /* ... */ }
/// idconn_sdk::export_connector!(MyConnector);
/// ```
///
/// Like Zed's `register_extension!` (crates/extension_api), the SDK owns the
/// bindings and the connector only names its type; unlike it, the world has
/// no init function to register a boxed instance from, so the macro
/// expands wit-bindgen's (public) export macro for a local adapter type.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        // Only the wasm build exports: a native cdylib (tests, clippy) would
        // export symbols named like `idconn:connector/operations@0.4.0#check`,
        // which native linkers refuse.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __IdconnSdkOperations;

            impl $crate::bindings::exports::idconn::connector::operations::Guest
                for __IdconnSdkOperations
            {
                fn export(
                    request: $crate::ExportRequest,
                ) -> ::core::result::Result<$crate::ExportSummary, $crate::Failure> {
                    <$connector as $crate::Connector>::export(
                        &$crate::HostShell,
                        &$crate::HostReporter,
                        request,
                    )
                }

                fn fulfill(
                    request: $crate::FulfillRequest,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::OrderResult>, $crate::Failure>
                {
                    <$connector as $crate::Connector>::fulfill(
                        &$crate::HostShell,
                        &$crate::HostReporter,
                        request,
                    )
                }

                fn check(
                    request: $crate::CheckRequest,
                ) -> ::core::result::Result<$crate::CheckReport, $crate::Failure> {
                    <$connector as $crate::Connector>::check(
                        &$crate::HostShell,
                        &$crate::HostReporter,
                        request,
                    )
                }
            }

            $crate::bindings::__export_connector_world!(
                __IdconnSdkOperations with_types_in $crate::bindings
            );
        };
        // Natively, still check that the type implements the trait.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<C: $crate::Connector>() {}
            implements::<$connector>();
        };
    };
}
