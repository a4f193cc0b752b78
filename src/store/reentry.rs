//! Calls back into a store from inside one of its own `edit` closures.
//!
//! The closure runs inside the store's write transaction, which holds the store's
//! writer (and, on a store that has one connection or the in-memory tables, the only
//! way to read). A second write from that closure, or there a read, would wait for the
//! edit that is waiting for it: a hang with no error. Such a call is refused as
//! [`StorageError::Reentrant`] instead; reads from the closure on a store with
//! connections to spare still work.

use super::error::{StorageError, StorageResult};
use std::cell::RefCell;

thread_local! {
    /// The stores (by address) running an `edit` closure on this thread.
    static EDITING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks the store at `store` as running an edit closure on this thread while alive.
pub(crate) struct Editing(usize);

impl Editing {
    pub(crate) fn enter(store: usize) -> Self {
        EDITING.with(|e| e.borrow_mut().push(store));
        Editing(store)
    }
}

impl Drop for Editing {
    fn drop(&mut self) {
        EDITING.with(|e| {
            let mut stack = e.borrow_mut();
            if let Some(at) = stack.iter().rposition(|s| *s == self.0) {
                stack.remove(at);
            }
        });
    }
}

/// Refuses a call into the store at `store` made from inside its own edit closure.
pub(crate) fn refuse_inside_edit(store: usize) -> StorageResult<()> {
    if EDITING.with(|e| e.borrow().contains(&store)) { Err(StorageError::Reentrant) } else { Ok(()) }
}
