//! Search attributes as Temporal defines them: the one table of system attributes, the rule for
//! custom attribute names, the type names, and the per-namespace limits.
//!
//! A leaf: it knows no store, no namespace and no request. Everything else that needs to know
//! whether a name is a system attribute, whether a workflow may set it, or how a query sees it
//! asks [`system`]; the configuration, the `start-dev` flags and the OperatorService all parse
//! custom declarations with [`parse_declaration`].

use endure_core::deployment::{SA_BEHAVIOR, SA_DEPLOYMENT, SA_USED_VERSIONS, SA_VERSION};
use endure_core::schedule::{
    NAMESPACE_DIVISION_ATTR, SCHEDULE_PAUSED, SCHEDULED_BY_ID, SCHEDULED_START_TIME,
};
use endure_core::state::{BUILD_IDS, TEMPORAL_PAUSE_INFO};
use endure_store::visibility::Attr;
pub use endure_store::visibility::SaType;

/// How the list-filter language sees a system attribute.
#[derive(Debug, PartialEq)]
pub enum Queried {
    /// A column of every run's visibility row.
    Column(Attr),
    /// Set by a feature Endure does not have yet (batch jobs, worker versioning): no
    /// run carries it, so it is NULL everywhere.
    Unset,
    /// Stored with the run's search attributes and queried like a custom attribute: set by
    /// workflows themselves (by upsert), or by the server (`BuildIds`).
    Stored,
}

/// One system search attribute.
#[derive(Debug)]
pub struct SystemAttribute {
    /// Its name.
    pub name: &'static str,
    /// Its type, as `GetSearchAttributes` and `ListSearchAttributes` report it.
    pub ty: SaType,
    /// Whether a workflow (or a start request) may set it in its search attributes.
    pub settable: bool,
    /// How queries see it.
    pub queried: Queried,
}

const fn column(name: &'static str, ty: SaType, attr: Attr) -> SystemAttribute {
    SystemAttribute { name, ty, settable: false, queried: Queried::Column(attr) }
}

const fn stored(name: &'static str, ty: SaType) -> SystemAttribute {
    SystemAttribute { name, ty, settable: false, queried: Queried::Stored }
}

const fn unset(name: &'static str, ty: SaType) -> SystemAttribute {
    SystemAttribute { name, ty, settable: false, queried: Queried::Unset }
}

/// Every system search attribute, as the server lists them.
pub static SYSTEM: &[SystemAttribute] = {
    use SaType::*;
    &[
        column("WorkflowId", Keyword, Attr::WorkflowId),
        column("RunId", Keyword, Attr::RunId),
        column("WorkflowType", Keyword, Attr::WorkflowType),
        column("ExecutionStatus", Keyword, Attr::ExecutionStatus),
        column("StartTime", Datetime, Attr::StartTime),
        column("CloseTime", Datetime, Attr::CloseTime),
        column("ExecutionTime", Datetime, Attr::ExecutionTime),
        column("ExecutionDuration", Int, Attr::ExecutionDuration),
        column("TaskQueue", Keyword, Attr::TaskQueue),
        column("HistoryLength", Int, Attr::HistoryLength),
        column("HistorySizeBytes", Int, Attr::HistorySizeBytes),
        column("StateTransitionCount", Int, Attr::StateTransitionCount),
        column("ParentWorkflowId", Keyword, Attr::ParentWorkflowId),
        column("ParentRunId", Keyword, Attr::ParentRunId),
        column("RootWorkflowId", Keyword, Attr::RootWorkflowId),
        column("RootRunId", Keyword, Attr::RootRunId),
        // Written by the server when a workflow task completes (the worker's build ids).
        SystemAttribute { name: BUILD_IDS, ty: KeywordList, settable: false, queried: Queried::Stored },
        // Kept by the server: the types of the run's paused activities.
        SystemAttribute {
            name: TEMPORAL_PAUSE_INFO,
            ty: KeywordList,
            settable: false,
            queried: Queried::Stored,
        },
        SystemAttribute {
            name: "TemporalChangeVersion",
            ty: KeywordList,
            settable: true,
            queried: Queried::Stored,
        },
        // Set by the server on the runs a schedule starts, and on schedules' system runs.
        stored(SCHEDULED_BY_ID, Keyword),
        stored(SCHEDULED_START_TIME, Datetime),
        stored(SCHEDULE_PAUSED, Bool),
        // Marks system runs (schedules): workflow listings leave them out unless asked.
        stored(NAMESPACE_DIVISION_ATTR, Keyword),
        // Set by the server on versioned workflow task completions (worker versioning).
        stored(SA_DEPLOYMENT, Keyword),
        stored(SA_VERSION, Keyword),
        stored(SA_BEHAVIOR, Keyword),
        stored(SA_USED_VERSIONS, KeywordList),
        unset("BinaryChecksums", KeywordList),
        unset("BatcherUser", Keyword),
        // Newer servers' attributes, no run of Endure's carries them: the batcher's namespace
        // marker, payloads stored outside history, and reported workflow-task problems.
        unset("BatcherNamespace", Keyword),
        unset("TemporalExternalPayloadCount", Int),
        unset("TemporalExternalPayloadSizeBytes", Int),
        unset("TemporalReportedProblems", KeywordList),
    ]
};

/// The system attribute called `name`, if it is one.
pub fn system(name: &str) -> Option<&'static SystemAttribute> {
    SYSTEM.iter().find(|a| a.name == name)
}

/// The type of a system attribute a workflow may set (stored like a custom one), if `name` is
/// one.
pub fn settable_system(name: &str) -> Option<SaType> {
    system(name).filter(|a| a.settable).map(|a| a.ty)
}

/// The type of a system attribute stored with a run's search attributes (set by workflows or
/// by the server), if `name` is one: listed and presented like a custom attribute.
pub fn stored_system(name: &str) -> Option<SaType> {
    system(name).filter(|a| a.queried == Queried::Stored).map(|a| a.ty)
}

/// The name of a `WorkflowExecutionStatus` as the `ExecutionStatus` attribute holds it
/// (`Running`, `Completed` …): queries compare with it and results carry it.
pub fn execution_status_name(status: i32) -> &'static str {
    use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus as S;
    match S::try_from(status).unwrap_or(S::Unspecified) {
        S::Running => "Running",
        S::Completed => "Completed",
        S::Failed => "Failed",
        S::Canceled => "Canceled",
        S::Terminated => "Terminated",
        S::ContinuedAsNew => "ContinuedAsNew",
        S::TimedOut => "TimedOut",
        S::Paused => "Paused",
        S::Unspecified => "Unspecified",
    }
}

/// The type's name as Temporal spells it.
pub fn type_name(ty: SaType) -> &'static str {
    match ty {
        SaType::Keyword => "Keyword",
        SaType::Text => "Text",
        SaType::Int => "Int",
        SaType::Double => "Double",
        SaType::Bool => "Bool",
        SaType::Datetime => "Datetime",
        SaType::KeywordList => "KeywordList",
    }
}

/// The type named `text` (any case, surrounding blanks ignored), as `temporal` takes `--type`.
pub fn parse_type(text: &str) -> Option<SaType> {
    SaType::ALL.into_iter().find(|t| type_name(*t).eq_ignore_ascii_case(text.trim()))
}

/// Longest custom attribute name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Why a custom search attribute declaration was refused. The messages are the real server's
/// where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    /// A system attribute's name, or one starting with `Temporal`.
    #[error("Search attribute {0} is reserved by system.")]
    Reserved(String),
    /// Not a letter or `_` followed by letters, digits, `_` or `-`, or longer than 255 bytes.
    #[error(
        "Search attribute name {0:?} is invalid: use a letter or '_' followed by letters, digits, '_' or '-' (at most 255 bytes)."
    )]
    InvalidName(String),
    /// Not one of the seven type names.
    #[error(
        "unknown search attribute type {0:?} (expected one of Text, Keyword, Int, Double, Bool, Datetime, KeywordList)"
    )]
    UnknownType(String),
}

/// Checks the name of a custom search attribute to register.
pub fn check_custom_name(name: &str) -> Result<(), DeclarationError> {
    if system(name).is_some() || name.starts_with("Temporal") {
        return Err(DeclarationError::Reserved(name.to_owned()));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= MAX_NAME_BYTES;
    if !valid {
        return Err(DeclarationError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// Parses a custom attribute declaration (`name`, and its type by name): the one rule the
/// configuration file, `start-dev --search-attribute` and AddSearchAttributes apply.
pub fn parse_declaration(name: &str, ty: &str) -> Result<(String, SaType), DeclarationError> {
    check_custom_name(name)?;
    let ty = parse_type(ty).ok_or_else(|| DeclarationError::UnknownType(ty.to_owned()))?;
    Ok((name.to_owned(), ty))
}

/// The most custom attributes of one type a namespace may have (Keyword: 10, others: 3).
pub fn max_per_type(ty: SaType) -> usize {
    if ty == SaType::Keyword { 10 } else { 3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_attribute_is_listed_once() {
        let mut names: Vec<&str> = SYSTEM.iter().map(|a| a.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a system attribute is listed twice");
        assert_eq!(system("BuildIds").map(|a| a.ty), Some(SaType::KeywordList));
        assert_eq!(settable_system("TemporalChangeVersion"), Some(SaType::KeywordList));
        assert_eq!(settable_system("WorkflowId"), None);
        // Only attributes stored like custom ones may be set by workflows; the server stores
        // BuildIds itself.
        for a in SYSTEM {
            assert!(!a.settable || a.queried == Queried::Stored, "{}", a.name);
        }
        assert_eq!(stored_system("BuildIds"), Some(SaType::KeywordList));
        assert_eq!(settable_system("BuildIds"), None, "workflows may not set BuildIds");
        assert_eq!(stored_system("StartTime"), None);
    }

    #[test]
    fn declarations_follow_one_rule() {
        assert_eq!(parse_declaration("CustomerId", "keyword"), Ok(("CustomerId".into(), SaType::Keyword)));
        assert_eq!(parse_declaration("_x-1", " KeywordList "), Ok(("_x-1".into(), SaType::KeywordList)));
        assert_eq!(
            parse_declaration("WorkflowId", "Keyword"),
            Err(DeclarationError::Reserved("WorkflowId".into()))
        );
        assert_eq!(
            parse_declaration("TemporalX", "Keyword"),
            Err(DeclarationError::Reserved("TemporalX".into()))
        );
        assert_eq!(parse_declaration("1x", "Int"), Err(DeclarationError::InvalidName("1x".into())));
        assert_eq!(parse_declaration("a b", "Int"), Err(DeclarationError::InvalidName("a b".into())));
        let long = "a".repeat(256);
        assert_eq!(parse_declaration(&long, "Int"), Err(DeclarationError::InvalidName(long.clone())));
        assert!(parse_declaration(&long[..255], "Int").is_ok());
        assert_eq!(parse_declaration("X", "Float"), Err(DeclarationError::UnknownType("Float".into())));
        assert_eq!(
            DeclarationError::Reserved("RunId".into()).to_string(),
            "Search attribute RunId is reserved by system."
        );
    }
}
