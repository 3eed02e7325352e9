//! ListWorkflowExecutions / CountWorkflowExecutions and the legacy list RPCs.
//!
//! Queries are parsed by `endure_core::query` and checked against the search attributes by
//! `query_check`; the store evaluates the typed filter.

use super::Frontend;
use super::query_check::check;
use crate::error::{ApiError, ApiResult};
use crate::search_attributes::schema::execution_status_name;
use crate::search_attributes::{SaTypes, present};
use endure_api::temporal::api::common::v1::{
    Memo, Payload, SearchAttributes, WorkflowExecution, WorkflowType,
};
use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus;
use endure_api::temporal::api::workflow::v1::WorkflowExecutionInfo;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::time::{to_duration, to_timestamp};
use endure_store::visibility::{Attr, CmpOp, FilterExpr, Scalar};
use endure_store::{PageCursor, VisibilityFilter, VisibilityRow};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::Request;

/// The page token of a listing: where the previous page ended.
#[derive(Serialize, Deserialize)]
struct ListToken {
    #[serde(default)]
    close_time: i64,
    start_time: i64,
    run_id: String,
}

fn row_info(v: VisibilityRow, types: &SaTypes) -> WorkflowExecutionInfo {
    // A standalone activity (listed when a query names its division) shows its own id.
    let workflow_id =
        endure_core::standalone::activity_id_of(&v.workflow_id).unwrap_or(&v.workflow_id).to_owned();
    let execution = WorkflowExecution { workflow_id, run_id: v.run_id.clone() };
    // The real server's visibility records these when a run closes: an open run lists none.
    let closed = v.close_time > 0;
    WorkflowExecutionInfo {
        execution: Some(execution.clone()),
        r#type: Some(WorkflowType { name: v.workflow_type }),
        start_time: Some(to_timestamp(v.start_time)),
        close_time: (v.close_time > 0).then(|| to_timestamp(v.close_time)),
        status: v.status,
        history_length: if closed { v.history_length } else { 0 },
        execution_time: Some(to_timestamp(v.execution_time)),
        memo: Some(Memo::decode(v.memo.as_slice()).unwrap_or_default()),
        search_attributes: Some(present(
            types,
            &SearchAttributes::decode(v.search_attributes.as_slice()).unwrap_or_default(),
        )),
        task_queue: v.task_queue,
        state_transition_count: if closed { v.state_transition_count } else { 0 },
        history_size_bytes: if closed { v.history_size_bytes } else { 0 },
        execution_duration: (v.close_time > 0).then(|| to_duration((v.close_time - v.execution_time).max(0))),
        parent_execution: (!v.parent_workflow_id.is_empty())
            .then_some(WorkflowExecution { workflow_id: v.parent_workflow_id, run_id: v.parent_run_id }),
        root_execution: Some(if v.root_workflow_id.is_empty() {
            execution
        } else {
            WorkflowExecution { workflow_id: v.root_workflow_id, run_id: v.root_run_id }
        }),
        ..Default::default()
    }
}

/// Workflow listings leave out system runs (schedules) unless the query names their division,
/// as the real server does.
pub(super) fn hide_system_runs(query: &str, expr: Option<FilterExpr>) -> Option<FilterExpr> {
    use endure_core::schedule::NAMESPACE_DIVISION_ATTR;
    if query.contains(NAMESPACE_DIVISION_ATTR) {
        return expr;
    }
    let attr =
        Attr::Custom { name: NAMESPACE_DIVISION_ATTR.into(), ty: endure_store::visibility::SaType::Keyword };
    FilterExpr::and_opt(Some(FilterExpr::IsNull { attr, negated: false }), expr)
}

impl Frontend {
    pub(super) async fn list(
        &self,
        filter: VisibilityFilter,
        page_size: i32,
        token: &[u8],
    ) -> ApiResult<(Vec<WorkflowExecutionInfo>, Vec<u8>)> {
        let namespace_id = filter.namespace_id.clone();
        let (rows, next) = self.list_rows(filter, page_size, token).await?;
        let types = self.search_attributes.of(&namespace_id).await?;
        Ok((rows.into_iter().map(|r| row_info(r, &types)).collect(), next))
    }

    /// One page of visibility rows as stored, and the next page's token.
    pub(super) async fn list_rows(
        &self,
        filter: VisibilityFilter,
        page_size: i32,
        token: &[u8],
    ) -> ApiResult<(Vec<VisibilityRow>, Vec<u8>)> {
        let cursor = if token.is_empty() {
            None
        } else {
            let t: ListToken = serde_json::from_slice(token)
                .map_err(|_| ApiError::InvalidArgument("Invalid NextPageToken.".into()))?;
            Some(PageCursor { close_time: t.close_time, start_time: t.start_time, run_id: t.run_id })
        };
        let limit = if page_size <= 0 { 1000 } else { page_size.min(1000) as usize };
        let rows = self.visibility.list_runs(&filter, cursor, limit).await?;
        let next = match rows.last() {
            Some(last) if rows.len() == limit => {
                let c = PageCursor::after(last);
                serde_json::to_vec(&ListToken {
                    close_time: c.close_time,
                    start_time: c.start_time,
                    run_id: c.run_id,
                })
                .unwrap_or_default()
            }
            _ => vec![],
        };
        Ok((rows, next))
    }

    pub(crate) async fn list_workflow_executions(
        &self,
        r: Request<ws::ListWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ListWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let (executions, next_page_token) =
            self.list_query(&r.namespace, &r.query, r.page_size, &r.next_page_token).await?;
        Ok(ws::ListWorkflowExecutionsResponse { executions, next_page_token })
    }

    /// One page of the runs a list-filter query selects.
    pub(super) async fn list_query(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> ApiResult<(Vec<WorkflowExecutionInfo>, Vec<u8>)> {
        let ns = self.namespaces.by_name(namespace).await?;
        let custom = self.search_attributes.of(&ns.id).await?;
        let q = check(query, false, &custom)?;
        let filter =
            VisibilityFilter { namespace_id: ns.id, expr: hide_system_runs(query, q.expr), open: None };
        self.list(filter, page_size, token).await
    }

    /// ScanWorkflowExecutions: the same query language and pages as ListWorkflowExecutions
    /// (as on the real server's SQL visibility).
    pub(crate) async fn scan_workflow_executions(
        &self,
        r: Request<ws::ScanWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ScanWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let (executions, next_page_token) =
            self.list_query(&r.namespace, &r.query, r.page_size, &r.next_page_token).await?;
        Ok(ws::ScanWorkflowExecutionsResponse { executions, next_page_token })
    }

    pub(crate) async fn list_open_workflow_executions(
        &self,
        r: Request<ws::ListOpenWorkflowExecutionsRequest>,
    ) -> ApiResult<ws::ListOpenWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let mut filter = VisibilityFilter { namespace_id: ns.id, open: Some(true), ..Default::default() };
        apply_legacy_filter(&mut filter, r.filters.map(LegacyFilter::Open))?;
        apply_start_time_filter(&mut filter, r.start_time_filter)?;
        filter.expr = hide_system_runs("", filter.expr.take());
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
        apply_legacy_filter(&mut filter, r.filters.map(LegacyFilter::Closed))?;
        apply_start_time_filter(&mut filter, r.start_time_filter)?;
        filter.expr = hide_system_runs("", filter.expr.take());
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
        let custom = self.search_attributes.of(&ns.id).await?;
        let q = check(&r.query, true, &custom)?;
        let filter =
            VisibilityFilter { namespace_id: ns.id, expr: hide_system_runs(&r.query, q.expr), open: None };
        let (count, groups) = self.count(&filter, q.group_by_status).await?;
        let groups = groups
            .into_iter()
            .map(|(value, count)| ws::count_workflow_executions_response::AggregationGroup {
                group_values: vec![value],
                count,
            })
            .collect();
        Ok(ws::CountWorkflowExecutionsResponse { count, groups })
    }

    /// The count of the runs `filter` selects, and with `by_status` the count of each status
    /// (GROUP BY ExecutionStatus: the status name as a Keyword payload, and its count).
    pub(super) async fn count(
        &self,
        filter: &VisibilityFilter,
        by_status: bool,
    ) -> ApiResult<(i64, Vec<(Payload, i64)>)> {
        if !by_status {
            return Ok((self.visibility.count_runs(filter).await?, vec![]));
        }
        let groups = self.visibility.count_runs_by_status(filter).await?;
        let total = groups.iter().map(|(_, n)| n).sum();
        let groups = groups
            .into_iter()
            .map(|(status, count)| {
                let value = Payload {
                    metadata: [
                        ("encoding".to_string(), b"json/plain".to_vec()),
                        ("type".to_string(), b"Keyword".to_vec()),
                    ]
                    .into_iter()
                    .collect(),
                    data: format!("\"{}\"", execution_status_name(status)).into_bytes(),
                    ..Default::default()
                };
                (value, count)
            })
            .collect();
        Ok((total, groups))
    }
}

enum LegacyFilter {
    Open(ws::list_open_workflow_executions_request::Filters),
    Closed(ws::list_closed_workflow_executions_request::Filters),
}

/// The legacy StartTimeFilter: start time within `[earliest, latest]` (either may be absent).
fn apply_start_time_filter(
    f: &mut VisibilityFilter,
    window: Option<endure_api::temporal::api::filter::v1::StartTimeFilter>,
) -> ApiResult<()> {
    let Some(w) = window else { return Ok(()) };
    let earliest = w.earliest_time.as_ref().map(endure_core::time::from_timestamp);
    let latest = w.latest_time.as_ref().map(endure_core::time::from_timestamp);
    if let (Some(e), Some(l)) = (earliest, latest)
        && e > l
    {
        return Err(ApiError::InvalidArgument(
            "EarliestTime in StartTimeFilter should not be larger than LatestTime.".into(),
        ));
    }
    let bound = |op, v| FilterExpr::Cmp { attr: Attr::StartTime, op, value: Scalar::Int(v) };
    let lower = earliest.map(|e| bound(CmpOp::Ge, e));
    let upper = latest.map(|l| bound(CmpOp::Le, l));
    f.expr = FilterExpr::and_opt(f.expr.take(), FilterExpr::and_opt(lower, upper));
    Ok(())
}

fn apply_legacy_filter(f: &mut VisibilityFilter, filters: Option<LegacyFilter>) -> ApiResult<()> {
    use ws::list_closed_workflow_executions_request::Filters as C;
    use ws::list_open_workflow_executions_request::Filters as O;
    match filters {
        Some(LegacyFilter::Open(O::ExecutionFilter(e)))
        | Some(LegacyFilter::Closed(C::ExecutionFilter(e))) => {
            let mut expr = FilterExpr::eq(Attr::WorkflowId, Scalar::Str(e.workflow_id));
            if !e.run_id.is_empty() {
                expr = expr.and(FilterExpr::eq(Attr::RunId, Scalar::Str(e.run_id)));
            }
            f.expr = Some(expr);
        }
        Some(LegacyFilter::Open(O::TypeFilter(t))) | Some(LegacyFilter::Closed(C::TypeFilter(t))) => {
            f.expr = Some(FilterExpr::eq(Attr::WorkflowType, Scalar::Str(t.name)));
        }
        Some(LegacyFilter::Closed(C::StatusFilter(s))) => {
            if s.status == 0 || s.status == WorkflowExecutionStatus::Running as i32 {
                return Err(ApiError::InvalidArgument(
                    "StatusFilter must be specified and must be not Running.".into(),
                ));
            }
            f.expr = Some(FilterExpr::eq(Attr::ExecutionStatus, Scalar::Int(s.status.into())));
        }
        None => {}
    }
    Ok(())
}
