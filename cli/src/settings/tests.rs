use super::*;

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(
        &file,
        "data_dir = \"/from/file\"\ncommit_window = \"50ms\"\nmax_sample_age = \"2h\"\n",
    )
    .expect("write");
    let cli = Settings {
        config_file: Some(file),
        data_dir: Some("/from/flag".into()),
        ..Settings::default()
    };
    let r = cli.load().expect("load").resolve().expect("resolve");
    assert_eq!(r.storage.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(r.commit.window, Duration::from_millis(50));
    assert_eq!(r.limits.max_sample_age, Duration::from_secs(7200));
    assert_eq!(r.limits.max_future, Duration::from_secs(600));
    assert_eq!(r.listen_addr.to_string(), "127.0.0.1:9494");
    assert_eq!(r.storage.backend, StorageBackend::Local);
}

/// The server's flags alone, as `stratus all` parses them.
#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    settings: Settings,
}

#[test]
fn delayed_name_removal_is_off_unless_the_feature_is_enabled() {
    let r = Settings::default().resolve().expect("resolve");
    assert!(!r.engine.delayed_name_removal);
    assert!(r.unknown_features.is_empty());

    // Repeated and comma-separated, as Prometheus's --enable-feature;
    // unknown names are kept to be logged, not errors.
    let flags = <Flags as clap::Parser>::try_parse_from([
        "stratus",
        "--enable-feature=promql-delayed-name-removal,no-such-feature",
        "--enable-feature",
        "exemplar-storage",
    ])
    .expect("flags parse");
    let r = flags.settings.resolve().expect("resolve");
    assert!(r.engine.delayed_name_removal);
    assert_eq!(r.unknown_features, ["no-such-feature", "exemplar-storage"]);

    // The variable, a comma-separated list.
    std::env::set_var(
        "STRATUS_ENABLE_FEATURE",
        "promql-delayed-name-removal,,other",
    );
    let from_env = <Flags as clap::Parser>::try_parse_from(["stratus"]);
    std::env::remove_var("STRATUS_ENABLE_FEATURE");
    let r = from_env
        .expect("variable parses")
        .settings
        .resolve()
        .expect("resolve");
    assert!(r.engine.delayed_name_removal);
    assert_eq!(r.unknown_features, ["other"]);

    // The config file, a list.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(
        &file,
        "enable_feature = [\"promql-delayed-name-removal\"]\n",
    )
    .expect("write");
    let r = Settings {
        config_file: Some(file),
        ..Settings::default()
    }
    .load()
    .expect("load")
    .resolve()
    .expect("resolve");
    assert!(r.engine.delayed_name_removal);
}

#[test]
fn unknown_keys_in_the_file_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(&file, "data_dirr = \"x\"\n").expect("write");
    let err = Settings {
        config_file: Some(file),
        ..Settings::default()
    }
    .load()
    .expect_err("typo");
    assert!(format!("{err:#}").contains("data_dirr"), "{err:#}");
}

#[test]
fn max_pending_deletes_is_off_unless_set_and_read_from_the_file() {
    assert_eq!(
        Settings::default()
            .resolve()
            .expect("resolve")
            .max_pending_deletes,
        0
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(&file, "max_pending_deletes = 100\n").expect("write");
    let from_file = Settings {
        config_file: Some(file.clone()),
        ..Settings::default()
    };
    let r = from_file.load().expect("load").resolve().expect("resolve");
    assert_eq!(r.max_pending_deletes, 100);
    let flag = Settings {
        config_file: Some(file),
        max_pending_deletes: Some(5),
        ..Settings::default()
    };
    let r = flag.load().expect("load").resolve().expect("resolve");
    assert_eq!(r.max_pending_deletes, 5);
}

#[test]
fn an_s3_bucket_selects_the_s3_backend() {
    let r = Settings {
        s3_bucket: Some("metrics".into()),
        s3_endpoint: Some("http://127.0.0.1:4566".into()),
        s3_path_style: Some(true),
        ..Settings::default()
    }
    .resolve()
    .expect("resolve");
    assert_eq!(r.storage.backend, StorageBackend::S3);
    assert!(r.storage.s3.path_style);
}

#[test]
fn http_bounds_default_to_prometheus_and_mimir_and_refuse_zero() {
    let r = Settings::default().resolve().expect("resolve");
    assert_eq!(r.serve.max_connections, 512);
    assert_eq!(r.serve.read_timeout, Duration::from_secs(300));
    assert_eq!(r.serve.idle_timeout, Duration::from_secs(120));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(
        &file,
        "max_connections = 32\nhttp_read_timeout = \"2s\"\nhttp_idle_timeout = \"10s\"\n",
    )
    .expect("write");
    let r = Settings {
        config_file: Some(file),
        http_idle_timeout: Some(Duration::from_secs(30)),
        ..Settings::default()
    }
    .load()
    .expect("load")
    .resolve()
    .expect("resolve");
    assert_eq!(r.serve.max_connections, 32);
    assert_eq!(r.serve.read_timeout, Duration::from_secs(2));
    assert_eq!(r.serve.idle_timeout, Duration::from_secs(30));
    let err = Settings {
        http_read_timeout: Some(Duration::ZERO),
        ..Settings::default()
    }
    .resolve()
    .expect_err("0s");
    assert_eq!(err.to_string(), "http_read_timeout must be above 0, got 0s");
}

/// `/api/v1/status/flags` and `/config` show every setting, by the name
/// the config file and the flags use, and each value reads back as the
/// same setting.
#[test]
fn status_settings_are_every_setting_by_its_name() {
    use clap::CommandFactory;
    let cmd = Flags::command();
    let mut flags: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "config_file" && id != "help")
        .collect();
    let r = Settings::default().resolve().expect("resolve");
    let shown = r.settings();
    let mut names: Vec<String> = shown.iter().map(|(n, _)| n.clone()).collect();
    flags.sort();
    names.sort();
    assert_eq!(names, flags);
    let get = |name: &str| {
        shown
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .expect("shown")
    };
    assert_eq!(get("listen_addr"), "127.0.0.1:9494");
    assert_eq!(get("query_timeout"), "2m");
    assert_eq!(get("multitenancy"), "false");
    assert_eq!(get("s3_bucket"), "");
    assert_eq!(get("enable_feature"), "");
    assert!(r.querier().status.settings == shown);
    assert_eq!(r.querier().status.storage_retention, "");

    // Values given are values shown, durations in Prometheus's notation.
    let r = Settings {
        retention_raw: Some(Duration::from_secs(30 * 86_400)),
        enable_feature: Some(vec!["promql-delayed-name-removal".into()]),
        ..Settings::default()
    }
    .resolve()
    .expect("resolve");
    let shown = r.settings();
    let retention = shown
        .iter()
        .find(|(n, _)| n == "retention_raw")
        .expect("shown");
    assert_eq!(retention.1, "4w2d");
    assert_eq!(r.querier().status.storage_retention, "4w2d");
    let features = shown
        .iter()
        .find(|(n, _)| n == "enable_feature")
        .expect("shown");
    assert_eq!(features.1, "promql-delayed-name-removal");
}

#[test]
fn web_cors_origin_defaults_to_any_reads_flag_and_file_and_refuses_bad_regexes() {
    use clap::Parser;
    let r = Settings::default().resolve().expect("resolve");
    assert_eq!(r.cors_origin.as_str(), ".*");
    assert!(r.cors_origin.allows_any());

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(&file, "web_cors_origin = 'https://grafana\\.example'\n").expect("write");
    let from_file = Settings {
        config_file: Some(file.clone()),
        ..Settings::default()
    };
    let r = from_file.load().expect("load").resolve().expect("resolve");
    assert_eq!(r.cors_origin.as_str(), r"https://grafana\.example");
    // Anchored, as Prometheus compiles it.
    assert!(r.cors_origin.matches("https://grafana.example"));
    assert!(!r.cors_origin.matches("https://grafana.example.evil"));

    let flags = Flags::try_parse_from([
        "stratus",
        "--config-file",
        file.to_str().expect("utf-8 path"),
        "--web-cors-origin",
        "https://.*\\.corp",
    ])
    .expect("flags");
    let r = flags
        .settings
        .load()
        .expect("load")
        .resolve()
        .expect("resolve");
    assert!(r.cors_origin.matches("https://dash.corp"));
    assert!(!r.cors_origin.matches("https://grafana.example"));

    let err = Settings {
        web_cors_origin: Some("(".into()),
        ..Settings::default()
    }
    .resolve()
    .expect_err("an invalid regex");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "web_cors_origin (--web-cors-origin) \"(\" is not a valid regular expression"
        ),
        "{msg}"
    );
}
