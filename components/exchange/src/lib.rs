wit_bindgen::generate!({ world: "connector", path: "../../wit" });

struct Connector;

impl exports::idconn::connector::exporter::Guest for Connector {
    fn run(
        _request: exports::idconn::connector::exporter::ExportRequest,
    ) -> Result<exports::idconn::connector::exporter::ExportSummary, String> {
        Err("not yet".into())
    }
}

impl exports::idconn::connector::fulfiller::Guest for Connector {
    fn run(
        _request: exports::idconn::connector::fulfiller::FulfillRequest,
    ) -> Result<Vec<exports::idconn::connector::fulfiller::OrderResult>, String> {
        Err("fulfill is not supported by this version".into())
    }
}

export!(Connector);
