//! ListWorkflowExecutions / CountWorkflowExecutions and the legacy list RPCs.
//!
//! This is the equality subset of Temporal's list-filter language (`WorkflowId`, `RunId`,
//! `WorkflowType`, `ExecutionStatus`, `TaskQueue` joined by `AND`; a trailing `ORDER BY` is
//! accepted and ignored). Anything else is an InvalidArgument that says what is supported.

use super::Frontend;
use super::workflows::execution_status_name;
use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::common::v1::{
    Memo, Payload, SearchAttributes, WorkflowExecution, WorkflowType,
};
use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus;
use endure_api::temporal::api::workflow::v1::WorkflowExecutionInfo;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::time::{to_duration, to_timestamp};
use endure_store::{PageCursor, VisibilityFilter, VisibilityRow};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::Request;

#[derive(Serialize, Deserialize)]
struct ListToken {
    start_time: i64,
    run_id: String,
}

/// A parsed list query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ParsedQuery {
    pub filter: VisibilityFilter,
    pub group_by_status: bool,
}

fn parse_status(v: &str) -> ApiResult<i32> {
    let all = [
        WorkflowExecutionStatus::Running,
        WorkflowExecutionStatus::Completed,
        WorkflowExecutionStatus::Failed,
        WorkflowExecutionStatus::Canceled,
        WorkflowExecutionStatus::Terminated,
        WorkflowExecutionStatus::ContinuedAsNew,
        WorkflowExecutionStatus::TimedOut,
    ];
    all.iter()
        .find(|s| execution_status_name(**s as i32).eq_ignore_ascii_case(v))
        .map(|s| *s as i32)
        .ok_or_else(|| ApiError::InvalidArgument(format!("invalid ExecutionStatus value '{v}'")))
}

/// Splits a query into tokens: identifiers/keywords, quoted strings, `=`.
fn tokenize(q: &str) -> ApiResult<Vec<(bool, String)>> {
    let mut out = vec![];
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' || c == '`' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some(x) if x == c => break,
                    Some('\\') => {
                        if let Some(x) = chars.next() {
                            s.push(x)
                        }
                    }
                    Some(x) => s.push(x),
                    None => {
                        return Err(ApiError::InvalidArgument(format!(
                            "invalid query: unterminated string in '{q}'"
                        )));
                    }
                }
            }
            out.push((c != '`', s));
        } else if c == '=' {
            chars.next();
            out.push((false, "=".into()));
        } else {
            let mut s = String::new();
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() || x == '=' || x == '\'' || x == '"' {
                    break;
                }
                s.push(x);
                chars.next();
            }
            out.push((false, s));
        }
    }
    Ok(out)
}

/// Parses the supported subset of the list-filter language.
pub(crate) fn parse_query(namespace_id: &str, q: &str) -> ApiResult<ParsedQuery> {
    let mut p = ParsedQuery {
        filter: VisibilityFilter { namespace_id: namespace_id.into(), ..Default::default() },
        ..Default::default()
    };
    let toks = tokenize(q)?;
    let mut i = 0;
    let unsupported = |what: &str| {
        ApiError::InvalidArgument(format!(
            "invalid query: {what}. Endure supports equality filters on WorkflowId, RunId, WorkflowType, ExecutionStatus and TaskQueue joined by AND for now"
        ))
    };
    while i < toks.len() {
        let (quoted, word) = &toks[i];
        if !quoted && word.eq_ignore_ascii_case("order") {
            break; // ORDER BY is accepted for compatibility; results are newest first.
        }
        if !quoted && word.eq_ignore_ascii_case("group") {
            let rest: Vec<&str> = toks[i..].iter().map(|(_, w)| w.as_str()).collect();
            if rest.len() == 3 && rest[1].eq_ignore_ascii_case("by") && rest[2] == "ExecutionStatus" {
                p.group_by_status = true;
                break;
            }
            return Err(ApiError::InvalidArgument(
                "invalid query: 'group by' supports only ExecutionStatus".into(),
            ));
        }
        if !quoted && word.eq_ignore_ascii_case("limit") {
            return Err(ApiError::InvalidArgument("invalid query: 'limit' clause is not supported".into()));
        }
        if i > 0 {
            if !quoted && word.eq_ignore_ascii_case("and") {
                i += 1;
            } else {
                return Err(unsupported(&format!("unexpected '{word}'")));
            }
        }
        let field = toks.get(i).ok_or_else(|| unsupported("missing condition after AND"))?.1.clone();
        match toks.get(i + 1) {
            Some((false, eq)) if eq == "=" => {}
            Some((_, op)) => return Err(unsupported(&format!("operator '{op}' after {field}"))),
            None => return Err(unsupported(&format!("missing operator after {field}"))),
        }
        let value = match toks.get(i + 2) {
            Some((true, v)) => v.clone(),
            _ => {
                return Err(ApiError::InvalidArgument(format!(
                    "invalid query: {field} must be compared with a quoted value"
                )));
            }
        };
        let f = &mut p.filter;
        match field.as_str() {
            "WorkflowId" => f.workflow_id = Some(value),
            "RunId" => f.run_id = Some(value),
            "WorkflowType" => f.workflow_type = Some(value),
            "TaskQueue" => f.task_queue = Some(value),
            "ExecutionStatus" => f.status = Some(parse_status(&value)?),
            other => return Err(unsupported(&format!("filter on '{other}'"))),
        }
        i += 3;
    }
    Ok(p)
}

fn row_info(v: VisibilityRow) -> WorkflowExecutionInfo {
    let execution = WorkflowExecution { workflow_id: v.workflow_id.clone(), run_id: v.run_id.clone() };
    WorkflowExecutionInfo {
        execution: Some(execution.clone()),
        r#type: Some(WorkflowType { name: v.workflow_type }),
        start_time: Some(to_timestamp(v.start_time)),
        close_time: (v.close_time > 0).then(|| to_timestamp(v.close_time)),
        status: v.status,
        history_length: v.history_length,
        execution_time: Some(to_timestamp(v.execution_time)),
        memo: Some(Memo::decode(v.memo.as_slice()).unwrap_or_default()),
        search_attributes: Some(SearchAttributes::decode(v.search_attributes.as_slice()).unwrap_or_default()),
        task_queue: v.task_queue,
        state_transition_count: v.state_transition_count,
        history_size_bytes: v.history_size_bytes,
        execution_duration: (v.close_time > 0).then(|| to_duration((v.close_time - v.execution_time).max(0))),
        root_execution: Some(execution),
        ..Default::default()
    }
}

impl Frontend {
    async fn list(
        &self,
        filter: VisibilityFilter,
        page_size: i32,
        token: &[u8],
    ) -> ApiResult<(Vec<WorkflowExecutionInfo>, Vec<u8>)> {
        let cursor = if token.is_empty() {
            None
        } else {
            let t: ListToken = serde_json::from_slice(token)
                .map_err(|_| ApiError::InvalidArgument("Invalid NextPageToken.".into()))?;
            Some(PageCursor { start_time: t.start_time, run_id: t.run_id })
        };
        let limit = if page_size <= 0 { 1000 } else { page_size.min(1000) as usize };
        let rows = self.engine.store().list_runs(&filter, cursor, limit).await?;
        let next = match rows.last() {
            Some(last) if rows.len() == limit => {
                serde_json::to_vec(&ListToken { start_time: last.start_time, run_id: last.run_id.clone() })
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        Ok((rows.into_iter().map(row_info).collect(), next))
    }

    pub(crate) async fn list_workflow_executions(
        &self,
        r: Request<ws::ListWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ListWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let q = parse_query(&ns.id, &r.query)?;
        if q.group_by_status {
            return Err(ApiError::InvalidArgument(
                "invalid query: 'group by' is only supported by CountWorkflowExecutions".into(),
            ));
        }
        let (executions, next_page_token) = self.list(q.filter, r.page_size, &r.next_page_token).await?;
        Ok(ws::ListWorkflowExecutionsResponse { executions, next_page_token })
    }

    pub(crate) async fn list_open_workflow_executions(
        &self,
        r: Request<ws::ListOpenWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ListOpenWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let mut filter = VisibilityFilter { namespace_id: ns.id, open: Some(true), ..Default::default() };
        apply_legacy_filter(&mut filter, r.filters.map(LegacyFilter::Open));
        let (executions, next_page_token) =
            self.list(filter, r.maximum_page_size, &r.next_page_token).await?;
        Ok(ws::ListOpenWorkflowExecutionsResponse { executions, next_page_token })
    }

    pub(crate) async fn list_closed_workflow_executions(
        &self,
        r: Request<ws::ListClosedWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ListClosedWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let mut filter = VisibilityFilter { namespace_id: ns.id, open: Some(false), ..Default::default() };
        apply_legacy_filter(&mut filter, r.filters.map(LegacyFilter::Closed));
        let (executions, next_page_token) =
            self.list(filter, r.maximum_page_size, &r.next_page_token).await?;
        Ok(ws::ListClosedWorkflowExecutionsResponse { executions, next_page_token })
    }

    pub(crate) async fn count_workflow_executions(
        &self,
        r: Request<ws::CountWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::CountWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let q = parse_query(&ns.id, &r.query)?;
        if !q.group_by_status {
            let count = self.engine.store().count_runs(&q.filter).await?;
            return Ok(ws::CountWorkflowExecutionsResponse { count, groups: vec![] });
        }
        let groups = self.engine.store().count_runs_by_status(&q.filter).await?;
        let total = groups.iter().map(|(_, n)| n).sum();
        Ok(ws::CountWorkflowExecutionsResponse {
            count: total,
            groups: groups
                .into_iter()
                .map(|(status, count)| ws::count_workflow_executions_response::AggregationGroup {
                    group_values: vec![Payload {
                        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into_iter().collect(),
                        data: format!("\"{}\"", execution_status_name(status)).into_bytes(),
                        ..Default::default()
                    }],
                    count,
                })
                .collect(),
        })
    }
}

enum LegacyFilter {
    Open(ws::list_open_workflow_executions_request::Filters),
    Closed(ws::list_closed_workflow_executions_request::Filters),
}

fn apply_legacy_filter(f: &mut VisibilityFilter, filters: Option<LegacyFilter>) {
    use ws::list_closed_workflow_executions_request::Filters as C;
    use ws::list_open_workflow_executions_request::Filters as O;
    match filters {
        Some(LegacyFilter::Open(O::ExecutionFilter(e)))
        | Some(LegacyFilter::Closed(C::ExecutionFilter(e))) => {
            f.workflow_id = Some(e.workflow_id);
            if !e.run_id.is_empty() {
                f.run_id = Some(e.run_id);
            }
        }
        Some(LegacyFilter::Open(O::TypeFilter(t))) | Some(LegacyFilter::Closed(C::TypeFilter(t))) => {
            f.workflow_type = Some(t.name)
        }
        Some(LegacyFilter::Closed(C::StatusFilter(s))) => f.status = Some(s.status),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_equality_conjunctions() {
        let p = parse_query(
            "ns",
            "WorkflowType = 'Greet' AND ExecutionStatus=\"Running\" order by StartTime desc",
        )
        .unwrap();
        assert_eq!(p.filter.workflow_type.as_deref(), Some("Greet"));
        assert_eq!(p.filter.status, Some(WorkflowExecutionStatus::Running as i32));
        assert!(!p.group_by_status);
        assert_eq!(parse_query("ns", "").unwrap().filter.namespace_id, "ns");
    }

    #[test]
    fn group_by_and_errors() {
        assert!(parse_query("ns", "GROUP BY ExecutionStatus").unwrap().group_by_status);
        for bad in [
            "WorkflowId = x",
            "Foo = 'x'",
            "WorkflowId > 'x'",
            "WorkflowId = 'x' OR",
            "WorkflowId = 'x",
            "LIMIT 10",
            "ExecutionStatus = 'Bogus'",
        ] {
            assert!(matches!(parse_query("ns", bad), Err(ApiError::InvalidArgument(_))), "{bad}");
        }
    }
}
