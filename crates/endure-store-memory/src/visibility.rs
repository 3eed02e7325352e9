//! Listing and counting visibility rows: the rows of a filter's namespace that its expression
//! holds for (`filter::eval` true) and its open flag admits (open: close time 0), in the SQL
//! backends' listing order — close time newest first with open runs (0) before every closed
//! one, then start time, then run id, all descending — after a cursor's position.

use crate::filter;
use crate::tables::Tables;
use endure_store::{PageCursor, VisibilityFilter, VisibilityRow};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The first sort key: the close time, with open runs (0) after every closed one.
fn close_key(close_time: i64) -> i64 {
    if close_time == 0 { i64::MAX } else { close_time }
}

/// A row's position in the listing order (ascending sorts newest first).
fn position(close_time: i64, start_time: i64, run_id: &str) -> Reverse<(i64, i64, &str)> {
    Reverse((close_key(close_time), start_time, run_id))
}

/// The rows of `f`'s namespace that match it, in key order.
fn matching<'a>(t: &'a Tables, f: &'a VisibilityFilter) -> impl Iterator<Item = &'a VisibilityRow> + 'a {
    t.visibility
        .range((f.namespace_id.clone(), String::new())..)
        .take_while(move |((ns, _), _)| *ns == f.namespace_id)
        .map(|(_, row)| row)
        .filter(move |row| match f.open {
            Some(true) => row.close_time == 0,
            Some(false) => row.close_time != 0,
            None => true,
        })
        .filter(move |row| f.expr.as_ref().is_none_or(|e| filter::eval(e, row) == Some(true)))
}

/// Matching rows in the listing order, after `cursor`, at most `limit`.
pub(crate) fn list(
    t: &Tables,
    f: &VisibilityFilter,
    cursor: Option<&PageCursor>,
    limit: usize,
) -> Vec<VisibilityRow> {
    let after = cursor.map(|c| position(c.close_time, c.start_time, &c.run_id));
    let mut rows: Vec<&VisibilityRow> = matching(t, f)
        .filter(|r| {
            after.as_ref().is_none_or(|after| position(r.close_time, r.start_time, &r.run_id) > *after)
        })
        .collect();
    rows.sort_by(|a, b| {
        position(a.close_time, a.start_time, &a.run_id).cmp(&position(b.close_time, b.start_time, &b.run_id))
    });
    rows.into_iter().take(limit).cloned().collect()
}

/// How many rows match.
pub(crate) fn count(t: &Tables, f: &VisibilityFilter) -> i64 {
    i64::try_from(matching(t, f).count()).unwrap_or(i64::MAX)
}

/// How many rows match, per status, ordered by status (statuses without rows left out).
pub(crate) fn count_by_status(t: &Tables, f: &VisibilityFilter) -> Vec<(i32, i64)> {
    let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
    for row in matching(t, f) {
        *counts.entry(row.status).or_default() += 1;
    }
    counts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(t: &mut Tables, ns: &str, run: &str, start: i64, close: i64) {
        let row = VisibilityRow {
            namespace_id: ns.into(),
            run_id: run.into(),
            start_time: start,
            close_time: close,
            ..Default::default()
        };
        t.visibility.insert((ns.into(), run.into()), row);
    }

    fn runs(rows: &[VisibilityRow]) -> Vec<&str> {
        rows.iter().map(|r| r.run_id.as_str()).collect()
    }

    #[test]
    fn open_runs_come_first_then_closed_by_close_time_with_ties_by_start_and_run_id() {
        let mut t = Tables::new();
        put(&mut t, "ns", "a", 1, 0);
        put(&mut t, "ns", "b", 2, 0);
        put(&mut t, "ns", "c", 3, 10);
        put(&mut t, "ns", "d", 3, 10);
        put(&mut t, "ns", "e", 9, 5);
        put(&mut t, "ns-2", "z", 9, 0);
        put(&mut t, "n", "y", 9, 0);
        let f = VisibilityFilter { namespace_id: "ns".into(), ..Default::default() };
        let all = list(&t, &f, None, 100);
        assert_eq!(runs(&all), vec!["b", "a", "d", "c", "e"]);
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = list(&t, &f, cursor.as_ref(), 2);
            let Some(last) = page.last() else { break };
            cursor = Some(PageCursor::after(last));
            paged.extend(page);
        }
        assert_eq!(paged, all, "pages join into the whole listing");
        assert!(list(&t, &f, None, 0).is_empty());
        assert_eq!(count(&t, &f), 5);
        assert_eq!(count(&t, &VisibilityFilter { open: Some(false), ..f.clone() }), 3);
        assert_eq!(count_by_status(&t, &f), vec![(0, 5)]);
    }
}
