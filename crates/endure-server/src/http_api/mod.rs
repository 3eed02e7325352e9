//! Temporal's HTTP API: the routes of the `google.api.http` annotations of WorkflowService and
//! OperatorService (`/api/v1/…` and the primary paths), with Temporal's JSON mapping
//! ([`json`]).
//!
//! Nothing here handles a particular RPC. A request is matched against the route table read from
//! the API's descriptors ([`routes`]), its body, path variables and query string become the
//! request message, and that message is sent, in process, through the same tonic services that
//! serve gRPC ([`GrpcCall`]): the same handlers, validation, limits, metrics and traces. The
//! answer (or the gRPC status with its details) is written back as the real server writes it.
//!
//! What this module deliberately does not know: which RPCs exist or what they do (the
//! descriptors say), and how the gRPC side is assembled (its caller hands it a service).

pub mod json;
pub mod routes;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use json::{JsonError, Style};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};
use routes::{Match, Route};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::Arc;

/// The largest request body read, as large as the gRPC listeners' largest message.
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// The gRPC side the HTTP API calls: a tower service taking gRPC requests (in practice tonic's
/// [`tonic::service::Routes`] of the WorkflowService and OperatorService servers).
pub type GrpcCall = tonic::service::Routes;

/// Why the HTTP API could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpApiError {
    /// The descriptor set did not decode.
    #[error("API descriptors: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    /// The route table could not be read from it.
    #[error(transparent)]
    Routes(#[from] routes::RouteError),
}

/// The HTTP API: its route table and the gRPC services it calls.
pub struct HttpApi {
    pool: DescriptorPool,
    routes: Vec<Route>,
    grpc: GrpcCall,
}

impl HttpApi {
    /// Reads the routes from the API's descriptors; calls go to `grpc`.
    pub fn new(grpc: GrpcCall) -> Result<Arc<HttpApi>, HttpApiError> {
        let pool = DescriptorPool::decode(endure_api::DESCRIPTOR_SET)?;
        let routes = routes::read(&pool)?;
        Ok(Arc::new(HttpApi { pool, routes, grpc }))
    }

    /// Answers one HTTP request, payloads in shorthand unless `?noPayloadShorthand` (the real
    /// server's HTTP API).
    pub async fn handle(self: Arc<Self>, req: axum::extract::Request) -> Response<Body> {
        self.answer(req, false).await
    }

    /// Answers one HTTP request with payloads always in canonical form, as Temporal's UI server
    /// answers the browser (its UI build decodes `{"payloads": [...]}` and nothing else).
    pub async fn handle_canonical(self: Arc<Self>, req: axum::extract::Request) -> Response<Body> {
        self.answer(req, true).await
    }

    async fn answer(self: Arc<Self>, req: axum::extract::Request, canonical: bool) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let query = parse_query(parts.uri.query().unwrap_or(""));
        let style = Style {
            // Present is on, whatever the value (`?pretty=false` too), as on the real server.
            pretty: query.iter().any(|(k, _)| k == "pretty"),
            canonical_payloads: canonical || query.iter().any(|(k, _)| k == "noPayloadShorthand"),
        };
        let (route, vars) = match routes::find(&self.routes, parts.method.as_str(), parts.uri.path()) {
            Match::Found(route, vars) => (route, vars),
            Match::MethodNotAllowed => {
                return error_response(StatusCode::NOT_IMPLEMENTED, 12, "Method Not Allowed", None, style);
            }
            Match::NotFound => return error_response(StatusCode::NOT_FOUND, 5, "Not Found", None, style),
        };
        let body = if route.body {
            match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => Some(b),
                Err(e) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        3,
                        &format!("reading the body: {e}"),
                        None,
                        style,
                    );
                }
            }
        } else {
            None
        };
        let request = match self.request(route, body.as_deref(), &query, vars) {
            Ok(r) => r,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, 3, &e.0, None, style),
        };
        self.call(route, &parts.headers, request, style).await
    }

    /// The request message of `route` from the body (or the query string) and path variables.
    fn request(
        &self,
        route: &Route,
        body: Option<&[u8]>,
        query: &[(String, String)],
        vars: Vec<(&[String], String)>,
    ) -> Result<DynamicMessage, JsonError> {
        let input = route.rpc.input();
        let mut value = match body {
            Some(b) if !b.iter().all(u8::is_ascii_whitespace) => {
                // The first JSON value, as the real server's stream decoder reads it.
                let mut stream = serde_json::Deserializer::from_slice(b).into_iter::<Value>();
                match stream.next() {
                    Some(Ok(v @ Value::Object(_))) => v,
                    Some(Ok(other)) => {
                        return Err(JsonError(format!(
                            "syntax error: the body must be a JSON object, not {}",
                            kind_name(&other)
                        )));
                    }
                    Some(Err(e)) => return Err(JsonError(format!("syntax error: {e}"))),
                    None => Value::Object(Map::new()),
                }
            }
            _ => Value::Object(Map::new()),
        };
        if body.is_none() {
            for (key, raw) in query {
                if key == "pretty" || key == "noPayloadShorthand" {
                    continue;
                }
                set_query_field(&input, &mut value, key, raw)?;
            }
        }
        for (path, v) in vars {
            set_path(&input, &mut value, path, Value::String(v));
        }
        json::read(&self.pool, &input, value)
    }

    async fn call(
        &self,
        route: &Route,
        headers: &HeaderMap,
        request: DynamicMessage,
        style: Style,
    ) -> Response<Body> {
        let payload = request.encode_to_vec();
        let mut framed = Vec::with_capacity(payload.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        framed.extend_from_slice(&payload);
        let mut grpc_req = axum::http::Request::builder()
            .method(Method::POST)
            .uri(route.grpc_path.as_str())
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::TE, "trailers");
        for (name, value) in forwarded_metadata(headers) {
            grpc_req = grpc_req.header(name, value);
        }
        let grpc_req = match grpc_req.body(Body::from(framed)) {
            Ok(r) => r,
            Err(e) => {
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, 13, &e.to_string(), None, style);
            }
        };
        let resp = match tower::ServiceExt::oneshot(self.grpc.clone(), grpc_req).await {
            Ok(r) => r,
            Err(e) => {
                let e: Infallible = e;
                match e {}
            }
        };
        let (parts, body) = resp.into_parts();
        let collected = match body.collect().await {
            Ok(c) => c,
            Err(e) => {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    13,
                    &format!("reading the answer: {e}"),
                    None,
                    style,
                );
            }
        };
        let trailers = collected.trailers().cloned();
        let data = collected.to_bytes();
        let status = crate::error::status_of_answer(&parts.headers, trailers.as_ref());
        if let Some(status) = status
            && status.code() != tonic::Code::Ok
        {
            return self.status_response(&status, style);
        }
        let Some(message) = unframe(&data) else {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                13,
                "malformed gRPC answer",
                None,
                style,
            );
        };
        let answer = match DynamicMessage::decode(route.rpc.output(), message) {
            Ok(m) => m,
            Err(e) => {
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, 13, &e.to_string(), None, style);
            }
        };
        match json::write(&self.pool, &answer, style) {
            Ok(text) => json_response(StatusCode::OK, text, style),
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, 13, &e.0, None, style),
        }
    }

    /// A gRPC status as the real server's HTTP API renders it: `code`, `message` and the
    /// status details (Temporal's failures, `@type` first).
    fn status_response(&self, status: &tonic::Status, style: Style) -> Response<Body> {
        let details = if status.details().is_empty() {
            None
        } else {
            self.pool.get_message_by_name("google.rpc.Status").and_then(|desc| {
                let decoded = DynamicMessage::decode(desc, status.details()).ok()?;
                let prost_reflect::Value::List(items) = decoded.get_field_by_name("details")?.into_owned()
                else {
                    return None;
                };
                let shaped = items
                    .iter()
                    .filter_map(|item| match item {
                        prost_reflect::Value::Message(m) => json::shape(&self.pool, m, style).ok(),
                        _ => None,
                    })
                    .collect();
                Some(shaped)
            })
        };
        let code = status.code() as i32;
        error_response(http_status(status.code()), code, status.message(), details, style)
    }
}

/// An axum router answering every request with the HTTP API (merge other routes, such as the
/// probes or the UI, in front of it).
pub fn router(api: Arc<HttpApi>) -> axum::Router {
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let api = api.clone();
        async move { api.handle(req).await }
    })
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn unframe(data: &Bytes) -> Option<&[u8]> {
    if data.is_empty() {
        return Some(&[]);
    }
    let (head, rest) = data.split_at_checked(5)?;
    if head[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    rest.get(..len)
}

/// The headers passed on to the gRPC handlers as metadata: the caller's credentials, trace
/// context and Temporal's namespace header, and any `Grpc-Metadata-<name>` as `<name>` (the
/// gateway convention).
fn forwarded_metadata(headers: &HeaderMap) -> Vec<(String, HeaderValue)> {
    const PASSED: &[&str] = &["authorization", "temporal-namespace", "traceparent", "tracestate"];
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str();
            if PASSED.contains(&name) {
                Some((name.to_string(), value.clone()))
            } else {
                name.strip_prefix("grpc-metadata-")
                    .filter(|n| !n.is_empty())
                    .map(|n| (n.to_string(), value.clone()))
            }
        })
        .collect()
}

/// The HTTP status of a gRPC code, as grpc-gateway maps them.
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code::*;
    match code {
        Ok => StatusCode::OK,
        Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Unknown | Internal | DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        InvalidArgument | FailedPrecondition | OutOfRange => StatusCode::BAD_REQUEST,
        DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        NotFound => StatusCode::NOT_FOUND,
        AlreadyExists | Aborted => StatusCode::CONFLICT,
        PermissionDenied => StatusCode::FORBIDDEN,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn json_response(status: StatusCode, text: String, style: Style) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(style)));
    resp
}

/// The `Content-Type` the real server's HTTP API sends: its JSON marshalers' names, `*` for the
/// default one.
fn content_type(style: Style) -> &'static str {
    if style.pretty {
        "application/json+pretty"
    } else if style.canonical_payloads {
        "application/json+no-payload-shorthand"
    } else {
        "*"
    }
}

fn error_response(
    status: StatusCode,
    code: i32,
    message: &str,
    details: Option<Vec<json::Shaped>>,
    style: Style,
) -> Response<Body> {
    let mut fields = vec![
        ("code".to_string(), json::Shaped::Plain(Value::from(code))),
        ("message".to_string(), json::Shaped::Plain(Value::String(message.to_string()))),
    ];
    if let Some(d) = details
        && !d.is_empty()
    {
        fields.push(("details".to_string(), json::Shaped::Array(d)));
    }
    let mut text = String::new();
    json::emit(&json::Shaped::Object(fields), style.pretty, 0, &mut text);
    json_response(status, text, style)
}

/// The query string's pairs, percent-decoded (`+` is a space).
fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Sets the field at `path` (proto names, through singular messages) to `leaf`, replacing what
/// the body had there under either of its names.
fn set_path(desc: &MessageDescriptor, value: &mut Value, path: &[String], leaf: Value) {
    let mut desc = desc.clone();
    let mut cur = value;
    for (i, name) in path.iter().enumerate() {
        let Some(field) = json::field_by_key(&desc, name) else { return };
        let Value::Object(obj) = cur else { return };
        if field.name() != field.json_name() {
            // One spelling only: the JSON name.
            if let Some(v) = obj.remove(field.name()) {
                obj.entry(field.json_name().to_string()).or_insert(v);
            }
        }
        if i + 1 == path.len() {
            obj.insert(field.json_name().to_string(), leaf);
            return;
        }
        let Kind::Message(m) = field.kind() else { return };
        desc = m;
        let next = obj.entry(field.json_name().to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
}

/// Adds one query parameter (`a.b.c=value`, proto or JSON names) to the request; names that
/// are no field of the request are ignored, as the real server ignores them. A repeated field
/// takes every occurrence.
fn set_query_field(
    desc: &MessageDescriptor,
    value: &mut Value,
    key: &str,
    raw: &str,
) -> Result<(), JsonError> {
    let names: Vec<&str> = key.split('.').collect();
    let mut desc = desc.clone();
    let mut keys = Vec::with_capacity(names.len());
    let mut leaf = None;
    for (i, name) in names.iter().enumerate() {
        let Some(field) = json::field_by_key(&desc, name) else { return Ok(()) };
        keys.push(field.json_name().to_string());
        if i + 1 == names.len() {
            leaf = Some(field);
            break;
        }
        match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() => desc = m,
            _ => return Ok(()),
        }
    }
    let Some(field) = leaf.filter(|f| !f.is_map()) else { return Ok(()) };
    let scalar = query_scalar(&field, raw)?;
    let Some((last, parents)) = keys.split_last() else { return Ok(()) };
    let mut cur = value;
    for k in parents {
        let Value::Object(obj) = cur else { return Ok(()) };
        let next = obj.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
    let Value::Object(obj) = cur else { return Ok(()) };
    if field.is_list() {
        let slot = obj.entry(last.clone()).or_insert_with(|| Value::Array(Vec::new()));
        match slot {
            Value::Array(items) => items.push(scalar),
            other => *other = Value::Array(vec![scalar]),
        }
    } else {
        obj.insert(last.clone(), scalar);
    }
    Ok(())
}

/// A query parameter's text as the JSON value of `field`'s type.
fn query_scalar(field: &prost_reflect::FieldDescriptor, raw: &str) -> Result<Value, JsonError> {
    // The real server's messages (Go's strconv under grpc-gateway).
    let name = field.name();
    let bad = |func: &str| {
        JsonError(format!("parsing field {name:?}: strconv.{func}: parsing {raw:?}: invalid syntax"))
    };
    let bool_of = || match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(bad("ParseBool")),
    };
    let float_of = || raw.parse::<f64>().map_err(|_| bad("ParseFloat"));
    let number =
        |f: f64| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::String(raw.to_string()));
    Ok(match field.kind() {
        Kind::Bool => Value::Bool(bool_of()?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::from(raw.parse::<i32>().map_err(|_| bad("ParseInt"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::from(raw.parse::<u32>().map_err(|_| bad("ParseUint"))?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            raw.parse::<i64>().map_err(|_| bad("ParseInt"))?;
            Value::String(raw.to_string())
        }
        Kind::Uint64 | Kind::Fixed64 => {
            raw.parse::<u64>().map_err(|_| bad("ParseUint"))?;
            Value::String(raw.to_string())
        }
        Kind::Float | Kind::Double => number(float_of()?),
        Kind::Enum(e) => match raw.parse::<i32>() {
            Ok(n) if e.get_value(n).is_some() => Value::from(n),
            Err(_) if e.get_value_by_name(raw).is_some() => Value::String(raw.to_string()),
            _ => return Err(JsonError(format!("parsing field {name:?}: {raw:?} is not a valid value"))),
        },
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.BoolValue" => Value::Bool(bool_of()?),
            "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
                Value::from(raw.parse::<i64>().map_err(|_| bad("ParseInt"))?)
            }
            "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => number(float_of()?),
            _ => Value::String(raw.to_string()),
        },
        Kind::String | Kind::Bytes => Value::String(raw.to_string()),
    })
}
