//! A job's calls of the component's exports, whatever its contract
//! version: the latest contract's requests and results, converted for an
//! older component by its contract's bindings.

use super::Job;
use crate::bindings::fulfiller::OrderResult;
use crate::bindings::{
    since_v0_2_0, since_v0_3_0, since_v0_4_0, CheckReport, CheckRequest, ExportRequest,
    ExportSummary, FulfillRequest,
};
use crate::sandbox::JobError;

/// An instance of one of the supported contracts' worlds.
pub(crate) enum Instance {
    V0_2_0(since_v0_2_0::Connector),
    V0_3_0(since_v0_3_0::Connector),
    V0_4_0(since_v0_4_0::Connector),
}

/// What a job reports when the component's contract has no `check`.
#[derive(Debug)]
pub enum CheckOutcome {
    Report(CheckReport),
    /// The contract (0.2.0) has no check export.
    NoCheck(crate::bindings::ContractVersion),
}

impl Job {
    pub fn export(&mut self, request: &ExportRequest) -> Result<ExportSummary, JobError> {
        let result = match &self.instance {
            Instance::V0_2_0(i) => i
                .idconn_connector_exporter()
                .call_run(&mut self.store, &since_v0_2_0::export_request(request))
                .map(|r| {
                    r.map(since_v0_2_0::export_summary)
                        .map_err(since_v0_2_0::failure)
                }),
            Instance::V0_3_0(i) => i
                .idconn_connector_operations()
                .call_export(&mut self.store, &since_v0_3_0::export_request(request))
                .map(|r| {
                    r.map(since_v0_3_0::export_summary)
                        .map_err(since_v0_3_0::failure)
                }),
            Instance::V0_4_0(i) => i
                .idconn_connector_operations()
                .call_export(&mut self.store, request),
        };
        self.finish(result)
    }

    pub fn fulfill(&mut self, request: &FulfillRequest) -> Result<Vec<OrderResult>, JobError> {
        let result = match &self.instance {
            Instance::V0_2_0(i) => i
                .idconn_connector_fulfiller()
                .call_run(&mut self.store, &since_v0_2_0::fulfill_request(request))
                .map(|r| {
                    r.map(|results| {
                        results
                            .into_iter()
                            .map(since_v0_2_0::order_result)
                            .collect()
                    })
                    .map_err(since_v0_2_0::failure)
                }),
            Instance::V0_3_0(i) => i
                .idconn_connector_operations()
                .call_fulfill(&mut self.store, &since_v0_3_0::fulfill_request(request))
                .map(|r| {
                    r.map(|results| {
                        results
                            .into_iter()
                            .map(since_v0_3_0::order_result)
                            .collect()
                    })
                    .map_err(since_v0_3_0::failure)
                }),
            Instance::V0_4_0(i) => i
                .idconn_connector_operations()
                .call_fulfill(&mut self.store, request),
        };
        self.finish(result)
    }

    /// The component's own connection check; a 0.2.0 component has none.
    pub fn check(&mut self, request: &CheckRequest) -> Result<CheckOutcome, JobError> {
        let result = match &self.instance {
            Instance::V0_2_0(_) => {
                return Ok(CheckOutcome::NoCheck(
                    crate::bindings::ContractVersion::V0_2_0,
                ))
            }
            Instance::V0_3_0(i) => i
                .idconn_connector_operations()
                .call_check(&mut self.store, &since_v0_3_0::check_request(request))
                .map(|r| {
                    r.map(since_v0_3_0::check_report)
                        .map_err(since_v0_3_0::failure)
                }),
            Instance::V0_4_0(i) => i
                .idconn_connector_operations()
                .call_check(&mut self.store, request),
        };
        self.finish(result).map(CheckOutcome::Report)
    }
}
