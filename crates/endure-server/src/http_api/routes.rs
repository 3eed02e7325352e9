//! The HTTP API's route table, read from the `google.api.http` annotations of WorkflowService's
//! and OperatorService's methods in the API's descriptor set: every binding (the primary one and
//! its `additional_bindings`, e.g. `/cluster/namespaces/{namespace}` and
//! `/api/v1/namespaces/{namespace}`) becomes one [`Route`].
//!
//! This module knows paths and field names only; it does not know JSON or how a call is made.

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

/// The services whose methods the HTTP API serves.
pub const SERVICES: &[&str] =
    &["temporal.api.workflowservice.v1.WorkflowService", "temporal.api.operatorservice.v1.OperatorService"];

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal the path's segment.
    Literal(String),
    /// Any one non-empty segment, bound to the request field at this path (proto names,
    /// e.g. `["execution", "workflow_id"]`).
    Field(Vec<String>),
}

/// One HTTP binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The path template's segments.
    pub segments: Vec<Segment>,
    /// Whether the request body is the whole request message (`body: "*"`); without, the
    /// fields not bound by the path come from the query string.
    pub body: bool,
    /// The RPC.
    pub rpc: MethodDescriptor,
    /// The gRPC path, e.g. `/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution`.
    pub grpc_path: String,
}

/// Why the route table could not be read from the descriptors.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The descriptor set lacks something the table needs.
    #[error("API descriptors: {0}")]
    Descriptors(String),
    /// A binding this table does not understand.
    #[error("{rpc}: unsupported HTTP binding {detail}")]
    Unsupported {
        /// The RPC's full name.
        rpc: String,
        /// What is unsupported.
        detail: String,
    },
}

/// Every binding of every method of [`SERVICES`], most specific first: where two templates
/// match the same path, the one with a literal at the first segment where they differ wins
/// (`…/schedules/count` before `…/schedules/{schedule_id}`).
pub fn read(pool: &DescriptorPool) -> Result<Vec<Route>, RouteError> {
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or_else(|| RouteError::Descriptors("no google.api.http extension".into()))?;
    let mut routes = Vec::new();
    for name in SERVICES {
        let service = pool
            .get_service_by_name(name)
            .ok_or_else(|| RouteError::Descriptors(format!("no service {name}")))?;
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                return Err(unsupported(&method, "google.api.http is not a message"));
            };
            let grpc_path = format!("/{}/{}", service.full_name(), method.name());
            bindings(&method, &rule, &grpc_path, &mut routes)?;
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(specificity(r)));
    Ok(routes)
}

fn specificity(r: &Route) -> Vec<bool> {
    r.segments.iter().map(|s| matches!(s, Segment::Literal(_))).collect()
}

fn unsupported(method: &MethodDescriptor, detail: &str) -> RouteError {
    RouteError::Unsupported { rpc: method.full_name().to_string(), detail: detail.to_string() }
}

fn string_field(rule: &DynamicMessage, name: &str) -> Option<String> {
    match rule.get_field_by_name(name)?.as_ref() {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn bindings(
    method: &MethodDescriptor,
    rule: &DynamicMessage,
    grpc_path: &str,
    out: &mut Vec<Route>,
) -> Result<(), RouteError> {
    const METHODS: [(&str, &str); 5] =
        [("get", "GET"), ("post", "POST"), ("put", "PUT"), ("delete", "DELETE"), ("patch", "PATCH")];
    let found: Vec<(&'static str, String)> =
        METHODS.iter().filter_map(|(field, verb)| string_field(rule, field).map(|p| (*verb, p))).collect();
    let [(verb, template)] = found.as_slice() else {
        return Err(unsupported(method, "without exactly one of get/post/put/delete/patch"));
    };
    let body = match string_field(rule, "body").as_deref() {
        None => false,
        Some("*") => true,
        Some(other) => return Err(unsupported(method, &format!("body {other:?} (only \"*\")"))),
    };
    if string_field(rule, "response_body").is_some() {
        return Err(unsupported(method, "response_body"));
    }
    out.push(Route {
        method: verb,
        segments: parse_template(method, template)?,
        body,
        rpc: method.clone(),
        grpc_path: grpc_path.to_string(),
    });
    if let Some(extra) = rule.get_field_by_name("additional_bindings")
        && let Value::List(list) = extra.as_ref()
    {
        for b in list {
            let Value::Message(b) = b else {
                return Err(unsupported(method, "additional binding not a message"));
            };
            bindings(method, b, grpc_path, out)?;
        }
    }
    Ok(())
}

fn parse_template(method: &MethodDescriptor, template: &str) -> Result<Vec<Segment>, RouteError> {
    let Some(rest) = template.strip_prefix('/') else {
        return Err(unsupported(method, &format!("path {template:?} not absolute")));
    };
    let input = method.input();
    rest.split('/')
        .map(|seg| {
            if let Some(var) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if var.contains('=') || var.contains('*') {
                    return Err(unsupported(method, &format!("path variable {seg}")));
                }
                let path: Vec<String> = var.split('.').map(str::to_string).collect();
                // The variable must name a string field of the request (through messages).
                let mut desc = input.clone();
                for (i, name) in path.iter().enumerate() {
                    let field = desc.get_field_by_name(name).ok_or_else(|| {
                        unsupported(method, &format!("path variable {seg}: no field {name}"))
                    })?;
                    if i + 1 < path.len() {
                        match field.kind() {
                            prost_reflect::Kind::Message(m) if !field.is_list() && !field.is_map() => {
                                desc = m
                            }
                            _ => return Err(unsupported(method, &format!("path variable {seg}"))),
                        }
                    } else if field.kind() != prost_reflect::Kind::String || field.is_list() {
                        return Err(unsupported(
                            method,
                            &format!("path variable {seg} is not a string field"),
                        ));
                    }
                }
                Ok(Segment::Field(path))
            } else if seg.contains(['{', '}', ':', '*']) || seg.is_empty() {
                Err(unsupported(method, &format!("path segment {seg:?}")))
            } else {
                Ok(Segment::Literal(seg.to_string()))
            }
        })
        .collect()
}

/// What matching a request path found.
pub enum Match<'a> {
    /// A route, with its variables' values (percent-decoded).
    Found(&'a Route, Vec<(&'a [String], String)>),
    /// Some route has this path, but not for this HTTP method.
    MethodNotAllowed,
    /// No route has this path.
    NotFound,
}

/// The first (most specific) route for `method` and `path`.
pub fn find<'a>(routes: &'a [Route], method: &str, path: &str) -> Match<'a> {
    let Some(rest) = path.strip_prefix('/') else { return Match::NotFound };
    let parts: Vec<&str> = rest.split('/').collect();
    let mut other_method = false;
    for route in routes {
        let Some(vars) = bind(route, &parts) else { continue };
        if route.method == method {
            return Match::Found(route, vars);
        }
        other_method = true;
    }
    if other_method { Match::MethodNotAllowed } else { Match::NotFound }
}

fn bind<'a>(route: &'a Route, parts: &[&str]) -> Option<Vec<(&'a [String], String)>> {
    if route.segments.len() != parts.len() {
        return None;
    }
    let mut vars = Vec::new();
    for (seg, part) in route.segments.iter().zip(parts) {
        match seg {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Field(path) => {
                if part.is_empty() {
                    return None;
                }
                let value = percent_encoding::percent_decode_str(part).decode_utf8().ok()?.into_owned();
                vars.push((path.as_slice(), value));
            }
        }
    }
    Some(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<Route> {
        let pool = DescriptorPool::decode(endure_api::DESCRIPTOR_SET).expect("descriptors decode");
        read(&pool).expect("routes read")
    }

    fn found(routes: &[Route], method: &str, path: &str) -> (String, Vec<(String, String)>) {
        match find(routes, method, path) {
            Match::Found(r, vars) => {
                (r.rpc.name().to_string(), vars.into_iter().map(|(p, v)| (p.join("."), v)).collect())
            }
            Match::MethodNotAllowed => ("405".into(), vec![]),
            Match::NotFound => ("404".into(), vec![]),
        }
    }

    #[test]
    fn every_annotated_rpc_has_its_bindings() {
        let routes = table();
        let pool = DescriptorPool::decode(endure_api::DESCRIPTOR_SET).expect("descriptors decode");
        let http = pool.get_extension_by_name("google.api.http").expect("google.api.http");
        let annotated: usize = SERVICES
            .iter()
            .flat_map(|s| pool.get_service_by_name(s).expect("service").methods().collect::<Vec<_>>())
            .filter(|m| m.options().has_extension(&http))
            .count();
        assert!(annotated > 90, "only {annotated} annotated RPCs");
        // Each has its primary path and its /api/v1 one.
        assert!(routes.len() >= 2 * annotated, "{} routes for {annotated} RPCs", routes.len());
        assert!(routes.iter().all(|r| r.grpc_path.starts_with("/temporal.api.")));
    }

    #[test]
    fn paths_match_their_rpcs_and_bind_their_variables() {
        let routes = table();
        let ns = || ("namespace".to_string(), "default".to_string());
        assert_eq!(
            found(&routes, "GET", "/api/v1/namespaces/default"),
            ("DescribeNamespace".into(), vec![ns()])
        );
        assert_eq!(
            found(&routes, "GET", "/cluster/namespaces/default"),
            ("DescribeNamespace".into(), vec![ns()])
        );
        assert_eq!(
            found(&routes, "POST", "/api/v1/namespaces/default/workflows/a%2Fb%20c"),
            ("StartWorkflowExecution".into(), vec![ns(), ("workflow_id".into(), "a/b c".into())])
        );
        assert_eq!(
            found(&routes, "GET", "/api/v1/namespaces/default/workflows/w1"),
            ("DescribeWorkflowExecution".into(), vec![ns(), ("execution.workflow_id".into(), "w1".into())])
        );
        assert_eq!(found(&routes, "GET", "/api/v1/namespaces/default/workflows").0, "ListWorkflowExecutions");
        assert_eq!(found(&routes, "PUT", "/api/v1/namespaces/default/workflows/w1").0, "405");
        assert_eq!(found(&routes, "GET", "/api/v1/nothing").0, "404");
        assert_eq!(found(&routes, "GET", "/api/v1/namespaces/default/workflows/").0, "404");
        assert_eq!(
            found(&routes, "GET", "/api/v1/namespaces/default/search-attributes").0,
            "ListSearchAttributes"
        );
    }

    #[test]
    fn a_literal_segment_wins_over_a_variable() {
        let routes = table();
        // Every pair of templates that both match some path: the first in the table has a
        // literal where the later one has a variable, at the first segment where they differ.
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                if a.method != b.method || a.segments.len() != b.segments.len() {
                    continue;
                }
                let overlap = a.segments.iter().zip(&b.segments).all(|pair| match pair {
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    _ => true,
                });
                if !overlap {
                    continue;
                }
                let first_difference = a
                    .segments
                    .iter()
                    .zip(&b.segments)
                    .find(|(x, y)| matches!(x, Segment::Literal(_)) != matches!(y, Segment::Literal(_)));
                if let Some((x, _)) = first_difference {
                    assert!(matches!(x, Segment::Literal(_)), "{} before {}", a.grpc_path, b.grpc_path);
                }
            }
        }
    }
}
