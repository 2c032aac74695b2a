//! The process's allocator: mimalloc (ADR 21), and the one call Stratus
//! makes into it.
//!
//! `unsafe` is allowed in this module only, for the FFI call to
//! `mi_collect`: it takes no pointers and has no preconditions; it returns
//! the calling thread's freed pages to the operating system.
#![allow(unsafe_code)]

/// mimalloc instead of the system allocator: glibc's per-thread arenas
/// kept freed memory of one query's threads from the next (ADR 21).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives the calling thread's freed memory back to the operating system.
/// A query thread calls it when its evaluation is done: mimalloc purges
/// freed pages only when the thread allocates again, so an idle query
/// thread would hold the memory of the last query it ran and the next
/// query, on another thread, would add to it (ADR 23).
pub fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called at any
    // time from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
