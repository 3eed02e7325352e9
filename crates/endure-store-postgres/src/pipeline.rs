//! Pipelining: several statements sent on one connection without waiting for each answer.
//!
//! `tokio-postgres` writes a statement's messages when its future is first polled and routes
//! the answers back in order, so polling several futures together sends them back to back (one
//! round trip). [`run_in_order`] polls them in list order, so the server executes them in that
//! order; inside a transaction, once one fails the rest fail with "current transaction is
//! aborted", and the caller reports the first failure.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio_postgres::Row;

/// What a statement returned.
pub(crate) enum Outcome {
    /// Its rows (a query).
    Rows(Vec<Row>),
    /// The number of rows it changed (an insert, update or delete).
    Count(u64),
}

/// A statement in flight.
pub(crate) type PgFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Outcome, tokio_postgres::Error>> + Send + 'a>>;

/// Drives every future to completion, first-polling them in order, and returns their results
/// in the same order.
pub(crate) async fn run_in_order(futures: Vec<PgFuture<'_>>) -> Vec<Result<Outcome, tokio_postgres::Error>> {
    enum Slot<'a> {
        Pending(PgFuture<'a>),
        Done(Result<Outcome, tokio_postgres::Error>),
    }
    let mut slots: Vec<Slot<'_>> = futures.into_iter().map(Slot::Pending).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in slots.iter_mut() {
            if let Slot::Pending(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Slot::Done(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    slots
        .into_iter()
        .filter_map(|s| match s {
            Slot::Done(r) => Some(r),
            Slot::Pending(_) => None,
        })
        .collect()
}
