//! Helpers shared by the end-to-end suites: free ports, child processes
//! that die with the test, and real external components (an S3 emulator,
//! Prometheus) started on 127.0.0.1.

pub mod compliance;
pub mod differential;
pub mod lookup_world;
pub mod process;
pub mod prometheus;
pub mod promqltest;
pub mod rw;
pub mod s3;
pub mod segments;
pub mod stratus;

/// A port on 127.0.0.1 that was free a moment ago. The child process that
/// gets it must bind it soon; starters retry with a new port when it fails.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The PromQL test scripts: `$PROMQLTEST_DATA`, else the copy vendored in
/// `tests/conformance/promqltest`.
pub fn promqltest_data() -> std::path::PathBuf {
    std::env::var_os("PROMQLTEST_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/promqltest")
        })
}
