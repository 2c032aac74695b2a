//! amtool (Debian `prometheus-alertmanager`) against `stratus all`'s
//! built-in notifier: `amtool config show` prints the Alertmanager
//! configuration the notifier runs with, and no command warns that the
//! versions differ. Skipped, with a note, when amtool is not installed.

use std::path::Path;
use std::process::Command;

use stratus_tests::process::find_tool;
use stratus_tests::stratus::StratusProcess;

const CONFIG: &str = "route:\n  receiver: team-pager\n  group_by: [alertname, instance]\n  group_wait: 5s\n\
receivers:\n- name: team-pager\n  webhook_configs:\n  - url: http://127.0.0.1:1/hook\n- name: nobody\n";

#[test]
fn amtool_config_show_prints_the_routing_configuration_without_a_version_warning() {
    let Some(amtool) = find_tool("STRATUS_AMTOOL", "amtool", &["/usr/bin/amtool"]) else {
        eprintln!("amtool is not installed (Debian prometheus-alertmanager): skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, CONFIG).expect("write the Alertmanager configuration");
    let config_arg = config.to_string_lossy().to_string();
    let server = StratusProcess::start(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &["--alertmanager-config", config_arg.as_str()],
    )
    .expect("start stratus all");
    let url = format!("--alertmanager.url={}", server.url(""));

    let out = Command::new(&amtool)
        .args(["config", "show", url.as_str()])
        .output()
        .expect("run amtool config show");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "amtool failed:\n{stdout}\n{stderr}");
    for want in [
        "receiver: team-pager",
        "group_by: [alertname, instance]",
        "- name: nobody",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert!(!stderr.contains("Warning"), "amtool warned:\n{stderr}");

    // Other commands ask the status too: no warning there either.
    for args in [&["alert", "query"][..], &["silence", "query"][..]] {
        let out = Command::new(&amtool)
            .args(args)
            .arg(url.as_str())
            .output()
            .expect("run amtool");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "amtool {args:?} failed:\n{stderr}");
        assert!(
            !stderr.contains("Warning"),
            "amtool {args:?} warned:\n{stderr}"
        );
    }
}
