//! The agent's HTTP API. Every endpoint, `/metrics` included, requires
//! `Authorization: Bearer <token>`.
//!
//! - `POST /jobs` `{"connection", "kind": "export"|"fulfill"|"check",
//!   "ignoreCookies"?, "orders"?, "results"?}` -> `202 {"id"}`;
//!   `409` when the connection is busy, `503` while draining.
//! - `GET /jobs`, `GET /jobs/{id}`: status, component version, summary,
//!   error, log lines.
//! - `GET /components`: loaded versions per connection.
//! - `POST /components/{connection}/activate` `{"sha256"}`: make a loaded
//!   version active (a rollback).
//! - `GET /metrics`: Prometheus text.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::{Agent, JobRequest, SubmitError};

/// Request bodies are small JSON documents.
const MAX_BODY: usize = 64 << 10;

type Reply = Response<Full<Bytes>>;

/// Accepts connections until `shutdown` completes, then returns (requests
/// already being answered finish on their own tasks).
pub async fn serve(
    agent: Arc<Agent>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let agent = agent.clone();
                async move { Ok::<_, Infallible>(handle(&agent, request).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("agent connection ended: {e}");
            }
        });
    }
}

async fn handle(agent: &Arc<Agent>, request: Request<Incoming>) -> Reply {
    let presented = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|t| agent.authorized(t)) {
        let mut reply = error(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer <the agent's token>",
        );
        reply.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
        return reply;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["jobs"]) => {
            let body = match read_json::<JobRequest>(request).await {
                Ok(b) => b,
                Err(reply) => return reply,
            };
            match agent.submit(body) {
                Ok(id) => reply_json(StatusCode::ACCEPTED, &json!({ "id": id })),
                Err(e) => {
                    let status = match &e {
                        SubmitError::Draining => StatusCode::SERVICE_UNAVAILABLE,
                        SubmitError::UnknownConnection(_) => StatusCode::NOT_FOUND,
                        SubmitError::Busy { .. } => StatusCode::CONFLICT,
                        SubmitError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    };
                    error(status, &e.to_string())
                }
            }
        }
        (&Method::GET, ["jobs"]) => reply_json(StatusCode::OK, &json!({ "jobs": agent.jobs() })),
        (&Method::GET, ["jobs", id]) => match id.parse().ok().and_then(|id| agent.job(id)) {
            Some(record) => reply_json(StatusCode::OK, &record),
            None => error(StatusCode::NOT_FOUND, &format!("no job {id}")),
        },
        (&Method::GET, ["components"]) => {
            let all: serde_json::Map<String, serde_json::Value> = agent
                .settings()
                .connections
                .keys()
                .map(|id| (id.clone(), json!(agent.registry().versions(id))))
                .collect();
            reply_json(StatusCode::OK, &json!({ "connections": all }))
        }
        (&Method::POST, ["components", connection, "activate"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Activate {
                sha256: String,
            }
            let connection = connection.to_string();
            let body = match read_json::<Activate>(request).await {
                Ok(b) => b,
                Err(reply) => return reply,
            };
            if !agent.settings().connections.contains_key(&connection) {
                return error(StatusCode::NOT_FOUND, &format!("no connection {connection}"));
            }
            match agent.registry().activate(&connection, &body.sha256) {
                Ok(swap) => reply_json(
                    StatusCode::OK,
                    &json!({
                        "connection": connection,
                        "active": { "name": swap.active.name(), "version": swap.active.version(), "sha256": swap.active.sha256 },
                        "previous": swap.previous,
                    }),
                ),
                Err(e) => error(StatusCode::NOT_FOUND, &format!("{e:#}")),
            }
        }
        (&Method::GET, ["metrics"]) => Response::builder()
            .status(StatusCode::OK)
            .header(
                hyper::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(Full::new(Bytes::from(agent.render_metrics())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        (_, ["jobs"] | ["jobs", _] | ["components"] | ["components", _, "activate"] | ["metrics"]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed on {path}"))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no endpoint {path} (known: /jobs, /jobs/{{id}}, /components, /components/{{connection}}/activate, /metrics)"),
        ),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(request: Request<Incoming>) -> Result<T, Reply> {
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body (at most {MAX_BODY} bytes): {e}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not the expected JSON: {e}"),
        )
    })
}

fn reply_json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: StatusCode, message: &str) -> Reply {
    reply_json(status, &json!({ "error": message }))
}
