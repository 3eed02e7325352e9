//! The behavioural suite every backend passes, on the in-memory store: on a fresh database, on
//! a second handle of a database (whose first handle is the guard), and on a handle whose fault
//! policy always answers `Proceed` (the fault path changes nothing).

use endure_store_memory::{Fault, MemoryStore};
use std::sync::Arc;

endure_store::conformance_tests!(fresh, async { (MemoryStore::new(), ()) });

endure_store::conformance_tests!(second_handle, async {
    let first = MemoryStore::new();
    (first.handle(), first)
});

endure_store::conformance_tests!(proceeding_faults, async {
    (MemoryStore::new().with_faults(Arc::new(|_: &endure_store_memory::Operation<'_>| Fault::Proceed)), ())
});
