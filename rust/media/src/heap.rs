//! Returning freed heap to the system.
//!
//! A media session allocates on the runtime's worker threads (codec state, packet buffers, queues),
//! and glibc gives every thread an arena of its own and keeps what is freed there for reuse rather
//! than unmapping it. Measured with `bench/churn.py` (256 `ReplyOnPause` sessions, half of them
//! vanishing): the server's RSS grew ~31 MB with every session and task gone, and `malloc_trim(0)`
//! returned all but ~4 MB of it (what remained was Gradio's per-browser-session state). The engine
//! calls [`trim`] shortly after sessions end.

/// Asks the allocator to return free pages to the system (glibc's `malloc_trim(0)`); a no-op where
/// the C library has no such call. Takes a few milliseconds on a heap of a few hundred MB: call it
/// off any latency-sensitive thread.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only walks the allocator's own arenas under their locks.
        unsafe {
            malloc_trim(0);
        }
    }
}
