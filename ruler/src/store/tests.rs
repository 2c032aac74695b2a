use super::*;
use crate::rulefile::parse_rule_file;

fn tenant() -> TenantId {
    TenantId::new("team-a").expect("tenant")
}

const G1: &str = "name: g1\ninterval: 30s\nrules:\n- alert: Down\n  expr: up == 0\n  for: 1m\n";
const G2: &str = "name: g2\nrules:\n- record: job:up:sum\n  expr: sum by (job) (up)\n";

#[tokio::test]
async fn set_replace_and_delete_groups() {
    let store = RuleStore::new(Bucket::in_memory());
    let t = tenant();
    assert!(store.namespaces(&t).await.expect("list").is_empty());

    store.set_groups(&t, "infra/db", G1).await.expect("set g1");
    store
        .set_groups(&t, "infra/db", G2)
        .await
        .expect("append g2");
    let groups = store.namespace(&t, "infra/db").await.expect("namespace");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["g1", "g2"]);

    // Same name: replaced in place, order kept.
    let replaced = "name: g1\nrules:\n- alert: Down\n  expr: up == 0\n  for: 5m\n";
    store
        .set_groups(&t, "infra/db", replaced)
        .await
        .expect("replace g1");
    let groups = store.namespace(&t, "infra/db").await.expect("namespace");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].name, "g1");
    assert_eq!(groups[0].interval, None, "the whole group is replaced");
    assert_eq!(groups[0].rules[0].for_, Some(crate::PromDuration(300_000)));

    store
        .set_groups(&t, "other", G2)
        .await
        .expect("second namespace");
    let all = store.namespaces(&t).await.expect("list");
    assert_eq!(all.keys().collect::<Vec<_>>(), ["infra/db", "other"]);
    assert_eq!(
        store.group(&t, "other", "g2").await.expect("group").rules[0]
            .record
            .as_deref(),
        Some("job:up:sum")
    );
    assert!(matches!(
        store.group(&t, "other", "nope").await,
        Err(RulerError::GroupNotFound { .. })
    ));

    store
        .delete_group(&t, "infra/db", "g1")
        .await
        .expect("delete g1");
    assert!(matches!(
        store.delete_group(&t, "infra/db", "g1").await,
        Err(RulerError::GroupNotFound { .. })
    ));
    store
        .delete_group(&t, "infra/db", "g2")
        .await
        .expect("delete g2");
    // The last group gone: the namespace is gone too.
    assert!(matches!(
        store.namespace(&t, "infra/db").await,
        Err(RulerError::NamespaceNotFound { .. })
    ));
    assert_eq!(store.namespaces(&t).await.expect("list").len(), 1);

    store
        .delete_namespace(&t, "other")
        .await
        .expect("delete namespace");
    assert!(store.namespaces(&t).await.expect("list").is_empty());
    assert!(matches!(
        store.delete_namespace(&t, "other").await,
        Err(RulerError::NamespaceNotFound { .. })
    ));
    // Another tenant never sees these.
    assert!(store
        .namespaces(&TenantId::anonymous())
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn invalid_uploads_are_refused_with_the_line() {
    let store = RuleStore::new(Bucket::in_memory());
    let t = tenant();
    let bad = "name: g\nrules:\n- record: ok\n  expr: up\n- alert: Broken\n  expr: sum(up\n";
    let err = store.set_groups(&t, "ns", bad).await.expect_err("invalid");
    let RulerError::InvalidRules(errs) = &err else {
        panic!("want InvalidRules, got {err}")
    };
    assert_eq!(errs.0[0].line, Some(5), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ns: line 5: group \"g\": rule 2 \"Broken\": could not parse expression"),
        "{text}"
    );
    assert!(!err.is_retryable());
    assert!(
        store.namespaces(&t).await.expect("list").is_empty(),
        "nothing stored"
    );

    let err = store
        .set_groups(&t, "__builtin__", G1)
        .await
        .expect_err("reserved");
    assert!(err.to_string().contains("reserved"), "{err}");
    assert!(store.set_groups(&t, "", G1).await.is_err());
}

#[tokio::test]
async fn concurrent_uploads_to_one_namespace_keep_every_group() {
    let store = RuleStore::new(Bucket::in_memory());
    let t = tenant();
    let uploads = (0..8).map(|i| {
        let store = store.clone();
        let t = t.clone();
        tokio::spawn(async move {
            let body = format!("name: g{i}\nrules:\n- record: r{i}\n  expr: up\n");
            store.set_groups(&t, "shared", &body).await
        })
    });
    for u in futures::future::join_all(uploads).await {
        u.expect("task").expect("upload");
    }
    let groups = store.namespace(&t, "shared").await.expect("namespace");
    assert_eq!(groups.len(), 8, "{groups:?}");
}

#[tokio::test]
async fn a_stored_namespace_is_a_prometheus_rule_file() {
    let bucket = Bucket::in_memory();
    let store = RuleStore::new(bucket.clone());
    let t = tenant();
    store.set_groups(&t, "ns", G1).await.expect("set");
    store.set_groups(&t, "ns", G2).await.expect("set");
    let (bytes, _) = bucket
        .get(&keys::namespace(&t, "ns"))
        .await
        .expect("stored object");
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    assert!(
        text.starts_with("# Stratus rule namespace (format version 1)"),
        "{text}"
    );
    let file = parse_rule_file("ns", text).expect("a valid rule file");
    assert_eq!(file.groups.len(), 2);
    // `promtool check rules` accepts it too (when promtool is installed).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ns.yaml");
    std::fs::write(&path, text).expect("write");
    match std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("promtool not run: {e}"),
    }
    let yaml = namespaces_yaml(&store.namespaces(&t).await.expect("list"));
    assert!(yaml.starts_with("ns:\n- name: g1\n"), "{yaml}");
}

#[tokio::test]
async fn a_namespace_at_its_legacy_key_moves_to_its_key_on_the_next_update() {
    let bucket = Bucket::in_memory();
    let store = RuleStore::new(bucket.clone());
    let t = tenant();
    // Escaped, this name is longer than a key segment may be: its key is
    // hashed, and before that it was stored at the escaped name.
    let ns = "x/".repeat(60);
    let (key, legacy) = (
        keys::namespace(&t, &ns),
        keys::legacy_namespace(&t, &ns).expect("a long name has a legacy key"),
    );
    store.set_groups(&t, &ns, G1).await.expect("set g1");
    let (bytes, _) = bucket.get(&key).await.expect("stored");
    bucket.put(&legacy, bytes).await.expect("legacy copy");
    bucket.delete(&key).await.expect("delete");
    assert_eq!(store.namespace(&t, &ns).await.expect("read")[0].name, "g1");

    store.set_groups(&t, &ns, G2).await.expect("set g2");
    let names: Vec<String> = store
        .namespace(&t, &ns)
        .await
        .expect("read")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["g1", "g2"]);
    assert!(bucket.get(&key).await.is_ok(), "moved to its key");
    assert!(matches!(
        bucket.get(&legacy).await,
        Err(StorageError::NotFound { .. })
    ));
}
