//! Provisioning orders (not yet implemented).

use crate::exports::idconn::connector::fulfiller::{FulfillRequest, OrderResult};
use crate::shell::{Reporter, Shell};

pub fn run<S: Shell, R: Reporter>(
    _shell: &S,
    _reporter: &R,
    _request: &FulfillRequest,
) -> Result<Vec<OrderResult>, String> {
    Err("fulfill is not supported by this version of the Exchange connector".into())
}
