//! The tokio runtime shared by every engine in the process, and the blocking-wait helper.

use std::future::Future;
use std::time::Duration;

use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use tokio::runtime::Handle;

/// The runtime pyo3-async-runtimes drives coroutines on; engines spawn their tasks on it too.
pub(crate) fn handle() -> Handle {
    pyo3_async_runtimes::tokio::get_runtime().handle().clone()
}

/// Runs `fut` to completion on the runtime from a Python thread, with the GIL released.
///
/// Raises `TimeoutError` after `timeout` seconds. Must not be called from a runtime thread (the
/// Python layer calls it from worker threads only).
pub(crate) fn block_on<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    fut: impl Future<Output = T> + Send,
) -> PyResult<T> {
    let handle = handle();
    let result = py.detach(|| {
        handle.block_on(async move {
            match timeout {
                Some(t) => tokio::time::timeout(Duration::from_secs_f64(t.max(0.0)), fut)
                    .await
                    .ok(),
                None => Some(fut.await),
            }
        })
    });
    result.ok_or_else(|| PyTimeoutError::new_err("timed out"))
}
