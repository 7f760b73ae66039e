//! CLIXML, the PowerShell serialization format (MS-PSRP 2.2.5).

mod value;

pub use value::{Collection, CollectionKind, PsObject, Value};
