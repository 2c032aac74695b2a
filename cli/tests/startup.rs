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
