//! A start that fails leaves nothing behind: with its port taken, `stratus
//! all` exits non-zero, names the address, and creates no data folder.

use std::process::Command;

#[test]
fn a_taken_port_fails_the_start_without_creating_the_data_folder() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .arg("all")
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen-addr")
        .arg(addr.to_string())
        .output()
        .expect("run stratus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a taken port: {stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        !data.exists(),
        "the failed start created {}",
        data.display()
    );
}

/// The start-up banner names every URL a user configures elsewhere, and
/// the console carries no library noise.
#[test]
fn the_banner_names_the_urls_and_the_console_is_quiet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stratus.log");
    let s = stratus_tests::stratus::StratusProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &log,
        &[],
    )
    .expect("stratus starts");
    let text = std::fs::read_to_string(&log).expect("log");
    drop(s);
    let base = format!("http://127.0.0.1:{}", s_port(&text));
    for want in [
        format!("remote_write: {base}/api/v1/write"),
        format!("JSON push:    {base}/api/v1/push"),
        format!("Grafana (Prometheus data source URL): {base}"),
        format!("rules API:    {base}/config/v1/rules"),
        format!("Alertmanager API (amtool --alertmanager.url): {base}"),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("mock mode"), "library noise:\n{text}");
}

/// The port of the banner's first line.
fn s_port(text: &str) -> u16 {
    text.lines()
        .find_map(|l| l.strip_prefix("stratus listening on http://127.0.0.1:"))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("a banner with the address")
}
