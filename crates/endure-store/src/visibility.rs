//! Visibility: the searchable summary of each run ([`VisibilityRow`]), [`VisibilityStore`]
//! which lists and counts runs, and the typed filter a store evaluates — the list-filter
//! language after its names have been resolved to attributes and its literals converted to the
//! attributes' types.
//!
//! Backends compile a [`FilterExpr`] to their own query language; they never see query text.

use crate::StoreResult;
use async_trait::async_trait;

/// The searchable summary of a run, written with every transition that changes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VisibilityRow {
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// Workflow type name.
    pub workflow_type: String,
    /// Task queue.
    pub task_queue: String,
    /// `WorkflowExecutionStatus` number.
    pub status: i32,
    /// Start time (ns).
    pub start_time: i64,
    /// Execution time (ns).
    pub execution_time: i64,
    /// Close time (ns), 0 while open.
    pub close_time: i64,
    /// Number of events.
    pub history_length: i64,
    /// History size in bytes.
    pub history_size_bytes: i64,
    /// Number of transitions.
    pub state_transition_count: i64,
    /// Serialized memo.
    pub memo: Vec<u8>,
    /// Serialized search attributes.
    pub search_attributes: Vec<u8>,
    /// Parent's workflow id (empty without a parent).
    pub parent_workflow_id: String,
    /// Parent's run id (empty without a parent).
    pub parent_run_id: String,
    /// Root workflow id (the run's own for a top-level run).
    pub root_workflow_id: String,
    /// Root run id (the run's own for a top-level run).
    pub root_run_id: String,
    /// Values of the run's registered custom search attributes, typed, for filtering.
    pub custom: Vec<(String, SaValue)>,
}

/// A filter for listing runs: a namespace, an optional typed expression (the list-filter
/// language, resolved and type-checked by the caller) and an open/closed restriction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisibilityFilter {
    /// Namespace id (required).
    pub namespace_id: String,
    /// The filter expression (`None`: every run of the namespace).
    pub expr: Option<FilterExpr>,
    /// Only open (`Some(true)`) or closed (`Some(false)`) runs.
    pub open: Option<bool>,
}

/// A position in the listing order — open runs first (newest start first), then closed runs by
/// close time, newest first; ties by start time, then run id, descending — given by the last
/// row returned.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCursor {
    /// Close time of the last row (0 while open).
    pub close_time: i64,
    /// Start time of the last row.
    pub start_time: i64,
    /// Run id of the last row.
    pub run_id: String,
}

impl PageCursor {
    /// The cursor after `row`.
    pub fn after(row: &VisibilityRow) -> PageCursor {
        PageCursor { close_time: row.close_time, start_time: row.start_time, run_id: row.run_id.clone() }
    }
}

/// Listing and counting runs by their visibility rows (written by
/// [`ExecutionStore::commit`](crate::ExecutionStore::commit), so never behind it).
#[async_trait]
pub trait VisibilityStore: Send + Sync {
    /// Lists matching runs in the listing order (see [`PageCursor`]), after `cursor`, at most
    /// `limit`.
    async fn list_runs(
        &self,
        filter: &VisibilityFilter,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<VisibilityRow>>;
    /// Counts runs matching a filter.
    async fn count_runs(&self, filter: &VisibilityFilter) -> StoreResult<i64>;
    /// Counts matching runs grouped by status, ordered by status.
    async fn count_runs_by_status(&self, filter: &VisibilityFilter) -> StoreResult<Vec<(i32, i64)>>;
}

/// The type of a search attribute, as Temporal defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaType {
    /// Exact-match string.
    Keyword,
    /// Full-text string.
    Text,
    /// 64-bit integer.
    Int,
    /// Floating point.
    Double,
    /// Boolean.
    Bool,
    /// Timestamp (nanoseconds since the epoch in filters).
    Datetime,
    /// A list of exact-match strings.
    KeywordList,
}

impl SaType {
    /// Every type.
    pub const ALL: [SaType; 7] = [
        SaType::Keyword,
        SaType::Text,
        SaType::Int,
        SaType::Double,
        SaType::Bool,
        SaType::Datetime,
        SaType::KeywordList,
    ];

    /// The number stored for it (Temporal's `IndexedValueType`).
    pub fn code(self) -> i32 {
        match self {
            SaType::Text => 1,
            SaType::Keyword => 2,
            SaType::Int => 3,
            SaType::Double => 4,
            SaType::Bool => 5,
            SaType::Datetime => 6,
            SaType::KeywordList => 7,
        }
    }

    /// The type stored as `code`.
    pub fn from_code(code: i32) -> Option<SaType> {
        SaType::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// The value of a custom search attribute on a run.
#[derive(Debug, Clone, PartialEq)]
pub enum SaValue {
    /// Keyword or Text.
    Str(String),
    /// Int, Bool (0/1) or Datetime (ns).
    Int(i64),
    /// Double.
    Float(f64),
    /// KeywordList.
    List(Vec<String>),
}

/// A column of the visibility record a filter can test.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// `WorkflowId` (Keyword).
    WorkflowId,
    /// `RunId` (Keyword).
    RunId,
    /// `WorkflowType` (Keyword).
    WorkflowType,
    /// `ExecutionStatus` (compared as the status number).
    ExecutionStatus,
    /// `StartTime` (ns).
    StartTime,
    /// `CloseTime` (ns; null while open).
    CloseTime,
    /// `ExecutionTime` (ns).
    ExecutionTime,
    /// `ExecutionDuration` (ns, close − execution time; null while open).
    ExecutionDuration,
    /// `TaskQueue` (Keyword).
    TaskQueue,
    /// `HistoryLength`.
    HistoryLength,
    /// `HistorySizeBytes`.
    HistorySizeBytes,
    /// `StateTransitionCount`.
    StateTransitionCount,
    /// `ParentWorkflowId` (null without a parent).
    ParentWorkflowId,
    /// `ParentRunId` (null without a parent).
    ParentRunId,
    /// `RootWorkflowId`.
    RootWorkflowId,
    /// `RootRunId`.
    RootRunId,
    /// A system attribute this server never sets on any run (`BatcherUser`, `BuildIds`, …):
    /// NULL everywhere.
    Unset,
    /// A custom search attribute (or a system one stored like them, `TemporalChangeVersion`).
    Custom {
        /// Its name.
        name: String,
        /// Its type.
        ty: SaType,
    },
}

/// A literal, already of the attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string (Keyword, Text, KeywordList element).
    Str(String),
    /// An integer (Int, Datetime and durations in ns, ExecutionStatus, Bool as 0/1).
    Int(i64),
    /// A float (Double).
    Float(f64),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A typed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    /// Both hold.
    And(Box<FilterExpr>, Box<FilterExpr>),
    /// Either holds.
    Or(Box<FilterExpr>, Box<FilterExpr>),
    /// SQL `NOT`: holds where the inner expression is false, not where it is unknown (a value
    /// it tests is missing).
    Not(Box<FilterExpr>),
    /// `attr op value`. Like SQL, a comparison with a null attribute does not hold.
    Cmp {
        /// Attribute.
        attr: Attr,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: Scalar,
    },
    /// `attr [NOT] IN (values)`.
    In {
        /// Attribute.
        attr: Attr,
        /// Literals (at least one).
        values: Vec<Scalar>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `attr [NOT] BETWEEN low AND high`, bounds included.
    Between {
        /// Attribute.
        attr: Attr,
        /// Lower bound.
        low: Scalar,
        /// Upper bound.
        high: Scalar,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// The attribute starts with `prefix`.
    StartsWith {
        /// Attribute.
        attr: Attr,
        /// Prefix.
        prefix: String,
    },
    /// `attr IS [NOT] NULL`.
    IsNull {
        /// Attribute.
        attr: Attr,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

impl FilterExpr {
    /// `attr = value`.
    pub fn eq(attr: Attr, value: Scalar) -> FilterExpr {
        FilterExpr::Cmp { attr, op: CmpOp::Eq, value }
    }

    /// `self AND other`.
    pub fn and(self, other: FilterExpr) -> FilterExpr {
        FilterExpr::And(Box::new(self), Box::new(other))
    }

    /// `a AND b`, where either may be absent.
    pub fn and_opt(a: Option<FilterExpr>, b: Option<FilterExpr>) -> Option<FilterExpr> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Reads custom search attribute values back from the JSON object backends store them as
/// (strings, numbers, lists of strings); unreadable JSON reads as no values.
pub fn custom_values_from_json(text: &str) -> Vec<(String, SaValue)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(name, v)| {
            let value = match v {
                serde_json::Value::String(s) => SaValue::Str(s),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => SaValue::Int(i),
                    None => SaValue::Float(n.as_f64()?),
                },
                serde_json::Value::Array(a) => {
                    SaValue::List(a.into_iter().filter_map(|x| x.as_str().map(String::from)).collect())
                }
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

/// The smallest string greater than every string starting with `prefix` in code-point order
/// (the byte order of UTF-8: SQLite's BINARY and PostgreSQL's "C" collation), or `None` if
/// there is none — the exclusive upper bound of a STARTS_WITH range scan.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}
