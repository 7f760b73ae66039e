//! The component manifest: JSON in the `idconn-manifest` custom section,
//! which the host reads without running the component.
//!
//! ```json
//! {"contract":"0.4.0","name":"exchange","version":"0.4.0",
//!  "entities":[{"name":"mailbox"},{"name":"database"}],
//!  "capabilities":{"powershell":{
//!    "configuration-name":"Microsoft.Exchange",
//!    "retryable-errors":["Microsoft.Exchange.Data.Directory.OverBudgetException"],
//!    "export":["Get-Mailbox"],"check":["Get-MailboxDatabase"],"fulfill":["Set-Mailbox"]}}}
//! ```
//!
//! - `contract`: the contract version of the world the component exports;
//!   [`manifest!`](crate::manifest!) writes this SDK's, so the two cannot
//!   disagree.
//! - `entities`: the entity kinds the connector exports and counts
//!   (`export-summary.counts`, `progress-update.entity`).
//! - `capabilities.powershell`: `configuration-name` is the default of the
//!   connection's `ConfigurationName`; `retryable-errors` are
//!   fully-qualified error id prefixes the host retries after a reconnect or
//!   a wait; `export`, `check` and `fulfill` list the cmdlets each operation
//!   may run. A cmdlet runs only if it is declared for the operation and
//!   either has a read verb (Get, Test, Find, ...) or the operator approved
//!   it (`Connections.<id>.Grants.<operation>`, or `ComponentSha256`).
//!
//! The macro checks every string at compile time (the checks below are
//! `const fn`s that fail the build): names and error ids are plain printable
//! text (nothing JSON would need to escape), cmdlets are `Verb-Noun`.

/// Fails the build (in a `const` context) unless `text` is non-empty
/// printable ASCII without `"` or `\`, so it can be written into JSON as it
/// is.
pub const fn text(what: &str, text: &str) {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        panic_with(what, "is empty");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 || b > 0x7e || b == b'"' || b == b'\\' {
            panic_with(
                what,
                "holds a character other than printable ASCII, or a quote or backslash",
            );
        }
        i += 1;
    }
}

/// Fails the build unless `name` is a cmdlet name: `Verb-Noun`, letters and
/// digits with exactly one dash between them (never a script).
pub const fn cmdlet(name: &str) {
    let bytes = name.as_bytes();
    let mut dashes = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'-' {
            if i == 0 || i + 1 == bytes.len() {
                panic!("a cmdlet name starts or ends with a dash");
            }
            dashes += 1;
        } else if !b.is_ascii_alphanumeric() {
            panic!("a cmdlet name holds a character other than letters, digits and a dash");
        }
        i += 1;
    }
    if dashes != 1 {
        panic!("a cmdlet name is not of the form Verb-Noun");
    }
}

const fn panic_with(what: &str, why: &str) -> ! {
    // const panics cannot format: the two halves name the field and the fault.
    let _ = what;
    let _ = why;
    panic!("a manifest string is empty or holds a character JSON would need escaped (see idconn_sdk::manifest)")
}

/// The cmdlets a manifest written by [`manifest!`](crate::manifest!)
/// declares for `operation` (`export`, `check` or `fulfill`), for tests.
/// Its strings hold no quote or bracket (the macro checks it), so finding
/// the list by its key is exact.
pub fn declared<'a>(manifest: &'a str, operation: &str) -> Vec<&'a str> {
    let key = format!("\"{operation}\":[");
    let Some(start) = manifest.find(&key).map(|at| at + key.len()) else {
        return Vec::new();
    };
    let list = manifest[start..].split(']').next().unwrap_or("");
    list.split(',')
        .map(|item| item.trim_matches('"'))
        .filter(|item| !item.is_empty())
        .collect()
}

/// The section's bytes: a `[u8; N]` static is what `#[link_section]` needs.
pub const fn bytes<const N: usize>(json: &str) -> [u8; N] {
    let text = json.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N && i < text.len() {
        out[i] = text[i];
        i += 1;
    }
    out
}

/// Declares the component's manifest: defines `pub const MANIFEST: &str`
/// (the JSON, for tests) and, on wasm32, puts it in the `idconn-manifest`
/// custom section. Every string must be a literal, `env!` or `concat!`; all
/// keys but `configuration_name` are required, lists may be empty.
///
/// ```
/// idconn_sdk::manifest! {
///     name: "exchange",
///     version: env!("CARGO_PKG_VERSION"),
///     entities: ["mailbox", "database"],
///     powershell: {
///         configuration_name: "Microsoft.Exchange",
///         retryable_errors: ["Microsoft.Exchange.Data.Directory.OverBudgetException"],
///         export: ["Get-Mailbox", "Get-MailboxDatabase"],
///         check: ["Get-MailboxDatabase"],
///         fulfill: ["Set-Mailbox"],
///     },
/// }
/// assert!(MANIFEST.starts_with(r#"{"contract":"0.4.0","name":"exchange""#));
/// ```
///
/// A string JSON would need escaped, or a cmdlet that is not `Verb-Noun`,
/// fails the build:
///
/// ```compile_fail
/// idconn_sdk::manifest! {
///     name: "ex\"change",
///     version: "1.0.0",
///     entities: [],
///     powershell: {
///         configuration_name: "Microsoft.Exchange",
///         retryable_errors: [],
///         export: [],
///         check: [],
///         fulfill: [],
///     },
/// }
/// ```
///
/// ```compile_fail
/// idconn_sdk::manifest! {
///     name: "exchange",
///     version: "1.0.0",
///     entities: [],
///     powershell: {
///         configuration_name: "Microsoft.Exchange",
///         retryable_errors: [],
///         export: ["Get-Mailbox; Remove-Mailbox"],
///         check: [],
///         fulfill: [],
///     },
/// }
/// ```
#[macro_export]
macro_rules! manifest {
    (
        name: $name:expr,
        version: $version:expr,
        entities: [$($entity:expr),* $(,)?],
        powershell: {
            $(configuration_name: $configuration:expr,)?
            retryable_errors: [$($retryable:expr),* $(,)?],
            export: [$($export:expr),* $(,)?],
            check: [$($check:expr),* $(,)?],
            fulfill: [$($fulfill:expr),* $(,)?] $(,)?
        } $(,)?
    ) => {
        /// The component's manifest (JSON), as in its `idconn-manifest` section.
        pub const MANIFEST: &str = concat!(
            // Must equal idconn_sdk::CONTRACT (the SDK's tests check it).
            "{\"contract\":\"0.4.0\",\"name\":\"", $name,
            "\",\"version\":\"", $version,
            "\",\"entities\":[",
            $crate::__manifest_list!(@entities $($entity),*),
            "],\"capabilities\":{\"powershell\":{",
            $("\"configuration-name\":\"", $configuration, "\",",)?
            "\"retryable-errors\":[", $crate::__manifest_list!($($retryable),*),
            "],\"export\":[", $crate::__manifest_list!($($export),*),
            "],\"check\":[", $crate::__manifest_list!($($check),*),
            "],\"fulfill\":[", $crate::__manifest_list!($($fulfill),*),
            "]}}}"
        );

        const _: () = {
            $crate::manifest::text("name", $name);
            $crate::manifest::text("version", $version);
            $($crate::manifest::text("configuration-name", $configuration);)?
            $($crate::manifest::text("entity", $entity);)*
            $($crate::manifest::text("retryable error id", $retryable);)*
            $($crate::manifest::cmdlet($export);)*
            $($crate::manifest::cmdlet($check);)*
            $($crate::manifest::cmdlet($fulfill);)*
        };

        #[cfg(target_arch = "wasm32")]
        #[link_section = "idconn-manifest"]
        #[used]
        static __IDCONN_MANIFEST_SECTION: [u8; MANIFEST.len()] =
            $crate::manifest::bytes::<{ MANIFEST.len() }>(MANIFEST);
    };
}

/// A JSON list of strings (or of `{"name": ...}` objects), as one literal.
#[doc(hidden)]
#[macro_export]
macro_rules! __manifest_list {
    () => { "" };
    (@entities) => { "" };
    (@entities $first:expr $(, $rest:expr)*) => {
        concat!("{\"name\":\"", $first, "\"}" $(, ",{\"name\":\"", $rest, "\"}")*)
    };
    ($first:expr $(, $rest:expr)*) => {
        concat!("\"", $first, "\"" $(, ",\"", $rest, "\"")*)
    };
}

#[cfg(test)]
mod tests {
    crate::manifest! {
        name: "sample",
        version: env!("CARGO_PKG_VERSION"),
        entities: ["mailbox", "database"],
        powershell: {
            configuration_name: "Microsoft.Exchange",
            retryable_errors: ["A.B.OverBudgetException", "C.D"],
            export: ["Get-Mailbox", "Get-MailboxDatabase"],
            check: ["Get-MailboxDatabase"],
            fulfill: [],
        },
    }

    #[test]
    fn the_manifest_is_the_documented_json() {
        assert_eq!(
            MANIFEST,
            concat!(
                r#"{"contract":"0.4.0","name":"sample","version":""#,
                env!("CARGO_PKG_VERSION"),
                r#"","entities":[{"name":"mailbox"},{"name":"database"}],"#,
                r#""capabilities":{"powershell":{"configuration-name":"Microsoft.Exchange","#,
                r#""retryable-errors":["A.B.OverBudgetException","C.D"],"#,
                r#""export":["Get-Mailbox","Get-MailboxDatabase"],"check":["Get-MailboxDatabase"],"#,
                r#""fulfill":[]}}}"#
            )
        );
    }

    #[test]
    fn the_manifest_names_the_contract_of_the_bound_world() {
        // The macro writes the contract as a literal (concat! takes no
        // constants): it must be the version of the WIT the bindings use.
        let wit = include_str!("../../../wit/since_v0.4.0/connector.wit");
        assert!(wit.contains(&format!("package idconn:connector@{};", crate::CONTRACT)));
        assert!(MANIFEST.starts_with(&format!("{{\"contract\":\"{}\",", crate::CONTRACT)));
    }

    mod without_configuration_name {
        crate::manifest! {
            name: "minimal",
            version: "1.0.0",
            entities: [],
            powershell: {
                retryable_errors: [],
                export: [],
                check: [],
                fulfill: [],
            },
        }

        #[test]
        fn the_key_is_left_out() {
            assert_eq!(
                MANIFEST,
                r#"{"contract":"0.4.0","name":"minimal","version":"1.0.0","entities":[],"#
                    .to_owned()
                    + r#""capabilities":{"powershell":{"retryable-errors":[],"export":[],"#
                    + r#""check":[],"fulfill":[]}}}"#
            );
        }
    }

    #[test]
    fn declared_cmdlets_are_read_back_per_operation() {
        assert_eq!(
            super::declared(MANIFEST, "export"),
            ["Get-Mailbox", "Get-MailboxDatabase"]
        );
        assert_eq!(super::declared(MANIFEST, "check"), ["Get-MailboxDatabase"]);
        assert!(super::declared(MANIFEST, "fulfill").is_empty());
        assert!(super::declared(MANIFEST, "other").is_empty());
    }

    #[test]
    fn bytes_copy_the_text() {
        assert_eq!(super::bytes::<3>("abc"), *b"abc");
    }

    #[test]
    #[should_panic]
    fn a_script_is_not_a_cmdlet() {
        super::cmdlet("Get-Mailbox; Remove-Mailbox");
    }

    #[test]
    #[should_panic]
    fn a_quote_is_refused() {
        super::text("name", "a\"b");
    }

    #[test]
    fn cmdlets_and_texts_pass() {
        super::cmdlet("Get-Mailbox");
        super::text("name", "Microsoft.Exchange");
    }
}
