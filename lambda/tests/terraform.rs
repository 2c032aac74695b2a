//! The Terraform module and the functions agree: every binary in
//! `functions/src/bin/` (but the local runner) has its entry in
//! `local.function_settings` (`functions.tf`), over which the module makes
//! one Lambda function, role and log group per function, and that entry
//! sets every environment variable the function reads. Also checks the
//! least-privilege S3 actions per role. `terraform validate` needs the AWS provider, which cannot be
//! downloaded here, so the HCL is parsed with `hcl-rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Body as HttpBody;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Expression, ObjectKey};
use stratus_lambda::env::FUNCTIONS;
use stratus_lambda::{
    ingest_app, ingest_routes, query_app, query_routes, Settings, LAMBDA_MAX_BODY_BYTES,
    LAMBDA_PAYLOAD_BYTES,
};
use stratus_model::TenantId;
use stratus_storage::Bucket;
use tower::ServiceExt;

fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/terraform/modules/stratus")
}

/// Every top-level block of every `.tf` file of `dir`.
fn blocks(dir: &Path) -> Vec<Block> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("module folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .tf files in {}", dir.display());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let body: Body =
            hcl::parse(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", f.display()));
        out.extend(body.into_blocks());
    }
    out
}

fn labels(b: &Block) -> Vec<&str> {
    b.labels.iter().map(|l| l.as_str()).collect()
}

fn find<'a>(blocks: &'a [Block], kind: &str, labels_: &[&str]) -> Option<&'a Block> {
    blocks
        .iter()
        .find(|b| b.identifier.as_str() == kind && labels(b) == labels_)
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.expr)
}

/// An expression as HCL text, to look for references in it.
fn text(e: &Expression) -> String {
    hcl::format::to_string(e).expect("formats")
}

/// String elements of a list expression.
fn strings(e: &Expression) -> Vec<String> {
    match e {
        Expression::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The binaries of `functions/` that become Lambda functions.
fn binaries() -> BTreeSet<String> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin"))
        .expect("src/bin")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .filter(|n| n != "local")
        .collect()
}

/// A module-level `local.<name>`.
fn local<'a>(blocks: &'a [Block], name: &str) -> &'a Expression {
    blocks
        .iter()
        .filter(|b| b.identifier.as_str() == "locals")
        .find_map(|b| attr(&b.body, name))
        .unwrap_or_else(|| panic!("no local.{name}"))
}

/// The attribute `key` of an object expression.
fn field<'a>(e: &'a Expression, key: &str) -> Option<&'a Expression> {
    match e {
        Expression::Object(o) => o.iter().find(|(k, _)| k.to_string() == key).map(|(_, v)| v),
        _ => None,
    }
}

/// What `local.function_settings` (`functions.tf`, one entry per function,
/// the source of `local.lambdas` that every per-function resource iterates
/// over) says about the function `name`.
fn settings<'a>(blocks: &'a [Block], name: &str) -> &'a Expression {
    field(local(blocks, "function_settings"), name)
        .unwrap_or_else(|| panic!("local.function_settings has no entry {name}"))
}

/// An expression, or the one of the local it names (`local.x`).
fn resolve<'a>(blocks: &'a [Block], e: &'a Expression) -> &'a Expression {
    match text(e).strip_prefix("local.") {
        Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            local(blocks, name)
        }
        _ => e,
    }
}

/// The blocks of `body` called `kind`, directly or as `dynamic "kind"`
/// (then their `content`).
fn blocks_named<'a>(body: &'a Body, kind: &str) -> Vec<&'a Body> {
    body.blocks()
        .filter_map(|b| match b.identifier.as_str() {
            k if k == kind => Some(&b.body),
            "dynamic" if labels(b) == [kind] => b
                .body
                .blocks()
                .find(|c| c.identifier.as_str() == "content")
                .map(|c| &c.body),
            _ => None,
        })
        .collect()
}

#[test]
fn every_function_has_its_resource_role_log_group_and_environment() {
    let blocks = blocks(&module_dir());
    let listed: BTreeSet<String> = FUNCTIONS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        binaries(),
        listed,
        "functions/src/bin and env::FUNCTIONS must name the same functions"
    );

    let keys: BTreeSet<String> = match local(&blocks, "function_settings") {
        Expression::Object(o) => o.keys().map(|k| k.to_string()).collect(),
        other => panic!("local.function_settings is not an object: {other:?}"),
    };
    assert_eq!(
        keys, listed,
        "local.function_settings has an entry for each function, and no other"
    );
    // local.lambdas: every entry of function_settings (but those not enabled),
    // each with its name and zip, from the key.
    let Expression::ForExpr(lambdas) = local(&blocks, "lambdas") else {
        panic!("local.lambdas is not a for expression over local.function_settings");
    };
    assert_eq!(text(&lambdas.collection_expr), "local.function_settings");
    let k = lambdas.key_var.as_ref().expect("a key variable").as_str();
    let per_function = text(&lambdas.value_expr);
    for expected in [
        format!("\"${{var.name_prefix}}-${{{k}}}\""),
        format!("\"${{var.artifacts_dir}}/${{{k}}}/bootstrap.zip\""),
    ] {
        assert!(
            per_function.contains(&expected),
            "local.lambdas lacks {expected}: {per_function}"
        );
    }
    assert!(
        text(local(&blocks, "functions")).contains("local.lambdas"),
        "local.functions names the functions of local.lambdas"
    );

    let role = find(&blocks, "resource", &["aws_iam_role", "this"]).expect("aws_iam_role.this");
    let logs = find(&blocks, "resource", &["aws_cloudwatch_log_group", "this"])
        .expect("aws_cloudwatch_log_group.this");
    for b in [role, logs] {
        assert_eq!(
            attr(&b.body, "for_each").map(text).as_deref(),
            Some("local.functions"),
            "{:?} is made per function",
            labels(b)
        );
    }

    let f = find(&blocks, "resource", &["aws_lambda_function", "this"])
        .expect("aws_lambda_function.this");
    assert_eq!(
        attr(&f.body, "for_each").map(text).as_deref(),
        Some("local.lambdas"),
        "one Lambda function per entry of local.lambdas"
    );
    assert_eq!(
        attr(&f.body, "role").map(text).as_deref(),
        Some("aws_iam_role.this[each.key].arn"),
        "each function runs with its own role"
    );
    let deps = attr(&f.body, "depends_on").map(text).unwrap_or_default();
    assert!(
        deps.contains("aws_cloudwatch_log_group.this"),
        "each function is created after its log group: {deps}"
    );
    assert_eq!(
        attr(&f.body, "architectures").map(strings),
        Some(vec!["arm64".to_string()]),
        "the functions run on Graviton"
    );
    assert_eq!(
        attr(&f.body, "filename").map(text).as_deref(),
        Some("each.value.zip"),
        "each function deploys target/lambda/<its key>/bootstrap.zip"
    );
    let env = f
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "environment")
        .expect("aws_lambda_function.this has no environment block");
    assert_eq!(
        attr(&env.body, "variables").map(text).as_deref(),
        Some("each.value.environment"),
        "each function's environment is its entry's"
    );

    for (name, reads) in FUNCTIONS {
        let set: BTreeSet<String> = match field(settings(&blocks, name), "environment") {
            Some(Expression::Object(o)) => o.keys().map(|k| k.to_string()).collect(),
            other => panic!("{name}: environment is not an object: {other:?}"),
        };
        for var in *reads {
            assert!(
                set.contains(*var),
                "{name} reads {var} but the Terraform module does not set it (sets {set:?})"
            );
        }
    }
}

/// The S3 statements of a function (its `s3_statements`).
fn s3_statements<'a>(blocks: &'a [Block], name: &str) -> Vec<&'a Expression> {
    match field(settings(blocks, name), "s3_statements") {
        Some(Expression::Array(items)) => items.iter().map(|s| resolve(blocks, s)).collect(),
        Some(other) => panic!("{name}: s3_statements is not a list: {other:?}"),
        None => Vec::new(),
    }
}

/// The S3 actions a function's policy grants, and the resources.
fn grants(blocks: &[Block], name: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut actions = BTreeSet::new();
    let mut resources = Vec::new();
    for s in s3_statements(blocks, name) {
        let acts = field(s, "actions").map(strings).unwrap_or_default();
        if acts.iter().all(|a| a.starts_with("s3:")) {
            actions.extend(acts);
            resources.extend(field(s, "resources").map(text));
        }
    }
    (actions, resources)
}

#[test]
fn roles_grant_least_privilege_on_the_bucket() {
    let blocks = blocks(&module_dir());
    // The roles' S3 policies are made of the functions' s3_statements, and
    // nothing else on the bucket.
    let doc = find(&blocks, "data", &["aws_iam_policy_document", "s3"])
        .expect("data.aws_iam_policy_document.s3");
    let for_each = attr(&doc.body, "for_each").map(text).unwrap_or_default();
    assert!(
        for_each.contains("local.lambdas") && for_each.contains("s3_statements"),
        "one S3 policy per function with S3 statements: {for_each}"
    );
    let statements = blocks_named(&doc.body, "statement");
    let s3 = statements
        .iter()
        .filter(|s| {
            attr(s, "actions").map(text).as_deref() == Some("statement.value.actions")
                && attr(s, "resources").map(text).as_deref() == Some("statement.value.resources")
        })
        .count();
    assert_eq!(s3, 1, "the policy takes the S3 statements as they are");
    let dynamic: Vec<String> = doc
        .body
        .blocks()
        .filter(|b| b.identifier.as_str() == "dynamic")
        .filter_map(|b| attr(&b.body, "for_each").map(text))
        .collect();
    assert_eq!(
        dynamic,
        ["each.value.s3_statements", "local.kms_keys"],
        "the statements are the function's S3 ones and, with SSE-KMS, one on the key"
    );
    let kms = statements
        .iter()
        .find(|s| match attr(s, "resources") {
            Some(Expression::Array(items)) => items.iter().map(text).eq(["statement.value"]),
            _ => false,
        })
        .expect("a statement on the KMS key");
    assert_eq!(
        attr(kms, "actions").map(text).as_deref(),
        Some("each.value.kms.actions")
    );
    for name in ["ingest", "query", "compactor", "ruler", "notifier"] {
        let acts = field(settings(&blocks, name), "kms")
            .map(|k| resolve(&blocks, k))
            .and_then(|k| field(k, "actions"))
            .map(strings)
            .unwrap_or_default();
        assert!(
            !acts.is_empty() && acts.iter().all(|a| a.starts_with("kms:")),
            "{name}'s statement on the KMS key grants KMS actions only: {acts:?}"
        );
    }
    assert_eq!(
        find(&blocks, "resource", &["aws_iam_role_policy", "s3"])
            .and_then(|p| attr(&p.body, "for_each"))
            .map(text)
            .as_deref(),
        Some("data.aws_iam_policy_document.s3"),
        "each S3 policy document is attached to its function's role"
    );

    let set = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let (ingest, where_) = grants(&blocks, "ingest");
    assert_eq!(ingest, set(&["s3:PutObject"]), "ingest only writes");
    assert!(
        where_.iter().all(|r| r.contains("/tenants/*/segments/*")),
        "ingest writes segments only: {where_:?}"
    );
    let (query, _) = grants(&blocks, "query");
    assert_eq!(
        query,
        set(&[
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject"
        ]),
        "query reads, and manages rule files and silences"
    );
    let writes = |name: &str| {
        s3_statements(&blocks, name)
            .into_iter()
            .filter(|s| {
                field(s, "actions")
                    .map(strings)
                    .unwrap_or_default()
                    .iter()
                    .any(|a| a == "s3:PutObject" || a == "s3:DeleteObject")
            })
            .flat_map(|s| match field(s, "resources") {
                Some(Expression::Array(items)) => items.iter().map(text).collect(),
                Some(other) => vec![text(other)],
                None => Vec::new(),
            })
            .map(|r| r.trim_matches('"').to_string())
            .collect::<Vec<_>>()
    };
    let query_writes = writes("query");
    assert!(
        !query_writes.is_empty()
            && query_writes
                .iter()
                .all(|r| r.ends_with("/tenants/*/rules/*")
                    || r.ends_with("/tenants/*/ruler/state/*")
                    || r.ends_with("/tenants/*/notifier/silences.json")
                    || r.ends_with("/tenants/*/notifier/alerts.json")),
        "query writes rule files, rule state (deletes), silences and alerts only: {query_writes:?}"
    );
    let (ruler, _) = grants(&blocks, "ruler");
    assert_eq!(
        ruler,
        set(&["s3:GetObject", "s3:ListBucket", "s3:PutObject"]),
        "the ruler never deletes"
    );
    let ruler_writes = writes("ruler");
    assert!(
        ruler_writes
            .iter()
            .all(|r| r.ends_with("/tenants/*/segments/*")
                || r.ends_with("/tenants/*/ruler/*")
                || r.ends_with("/tenants/*/notifier/*")),
        "the ruler writes segments, its state and alerts for the notifier only: {ruler_writes:?}"
    );
    let notifier_writes = writes("notifier");
    assert!(
        !notifier_writes.is_empty()
            && notifier_writes
                .iter()
                .all(|r| r.ends_with("/tenants/*/notifier/*")),
        "the notifier touches its own objects only: {notifier_writes:?}"
    );
    let (compactor, _) = grants(&blocks, "compactor");
    assert_eq!(
        compactor,
        set(&[
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject"
        ]),
    );
    // The authorizer touches no S3 at all: no statements, so no policy.
    assert!(s3_statements(&blocks, "authorizer").is_empty());
    assert_eq!(
        field(local(&blocks, "function_defaults"), "s3_statements").map(text),
        Some("[]".to_string()),
        "a function without s3_statements gets none"
    );
}

#[test]
fn the_example_uses_the_module_and_exposes_the_urls() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/terraform/examples/aws");
    let blocks = blocks(&dir);
    let m = find(&blocks, "module", &["stratus"]).expect("module \"stratus\"");
    assert_eq!(
        attr(&m.body, "source"),
        Some(&Expression::String("../../modules/stratus".into()))
    );
    for out in ["remote_write_url", "grafana_datasource_url", "bucket_name"] {
        assert!(
            find(&blocks, "output", &[out]).is_some(),
            "the example outputs {out}"
        );
    }
}

#[test]
fn scheduled_functions_have_a_schedule_the_scheduler_may_invoke() {
    let blocks = blocks(&module_dir());
    let schedules = text(local(&blocks, "schedules"));
    assert!(
        schedules.contains("local.lambdas") && schedules.contains(".schedule != null"),
        "local.schedules holds every function with a schedule: {schedules}"
    );
    let policy = find(&blocks, "data", &["aws_iam_policy_document", "scheduler"])
        .map(|b| hcl::format::to_string(&b.body).expect("formats"))
        .expect("data.aws_iam_policy_document.scheduler");
    assert!(
        policy.contains("keys(local.schedules)") && policy.contains("aws_lambda_function.this[k]"),
        "the scheduler role may invoke every scheduled function: {policy}"
    );
    let s = find(&blocks, "resource", &["aws_scheduler_schedule", "this"])
        .expect("aws_scheduler_schedule.this");
    assert_eq!(
        attr(&s.body, "for_each").map(text).as_deref(),
        Some("local.schedules"),
        "one schedule per scheduled function"
    );
    let target = s
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "target")
        .expect("the schedule has no target");
    assert_eq!(
        attr(&target.body, "arn").map(text).as_deref(),
        Some("aws_lambda_function.this[each.key].arn"),
        "a function's schedule invokes that function"
    );
    for name in ["compactor", "ruler", "notifier"] {
        let schedule = field(settings(&blocks, name), "schedule")
            .unwrap_or_else(|| panic!("{name} has no schedule"));
        assert!(
            field(schedule, "expression").is_some(),
            "{name}'s schedule has an expression: {}",
            text(schedule)
        );
    }
}

/// A statement's actions and its resources as keys under the bucket
/// (`${aws_s3_bucket.this.arn}/` taken off; the bucket itself is `""`).
struct Statement {
    actions: Vec<String>,
    resources: Vec<String>,
}

fn statements(blocks: &[Block], name: &str) -> Vec<Statement> {
    s3_statements(blocks, name)
        .into_iter()
        .map(|s| Statement {
            actions: field(s, "actions").map(strings).unwrap_or_default(),
            resources: match field(s, "resources") {
                Some(Expression::Array(items)) => items
                    .iter()
                    .map(|r| {
                        let r = text(r);
                        let r = r.trim_matches('"');
                        let r = match r {
                            "aws_s3_bucket.this.arn" => "",
                            r => r.strip_prefix("${aws_s3_bucket.this.arn}").unwrap_or(r),
                        };
                        r.strip_prefix('/').unwrap_or(r).to_string()
                    })
                    .collect(),
                other => panic!("{name}: resources is not a list: {other:?}"),
            },
        })
        .collect()
}

/// IAM's wildcard match: `*` any characters (`/` too), `?` one.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], s) || (!s.is_empty() && glob(pattern, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &s[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &s[1..]),
        _ => false,
    }
}

fn allows(statements: &[Statement], action: &str, key: &str) -> bool {
    statements.iter().any(|st| {
        st.actions.iter().any(|a| a == action)
            && st
                .resources
                .iter()
                .any(|r| glob(r.as_bytes(), key.as_bytes()))
    })
}

/// The KMS actions a function's policy grants on `kms_key_arn`.
fn kms_actions(blocks: &[Block], name: &str) -> Vec<String> {
    field(settings(blocks, name), "kms")
        .map(|k| resolve(blocks, k))
        .and_then(|k| field(k, "actions"))
        .map(strings)
        .unwrap_or_default()
}

/// The query function's policy allows the writes its API makes, at the
/// keys the code builds: rule files (put, delete), a deleted group's state
/// (delete), silences and posted alerts (put); and, with SSE-KMS, the
/// data key every write needs.
#[test]
fn the_query_role_may_write_what_its_api_writes() {
    let blocks = blocks(&module_dir());
    let query = statements(&blocks, "query");
    let t = TenantId::new("team-a").expect("tenant");
    let ns = "web/prod rules";
    let group = "latency: p99";
    let rules = stratus_ruler::keys::namespace(&t, ns);
    let state = stratus_ruler::keys::state(&t, ns, group);
    let state_of_namespace = stratus_ruler::keys::state_namespace_prefix(&t, ns);
    let alerts = stratus_notifier::state::alerts_key(&t);
    let silences = stratus_notifier::state::silences_key(&t);
    for (action, key) in [
        // POST /api/v1/rules/{namespace}
        ("s3:PutObject", rules.as_ref().to_string()),
        // DELETE /api/v1/rules/{namespace}
        ("s3:DeleteObject", rules.as_ref().to_string()),
        // DELETE /api/v1/rules/{namespace}/{group}: the group's state
        ("s3:DeleteObject", state.as_ref().to_string()),
        // DELETE /api/v1/rules/{namespace}: every group's state
        (
            "s3:DeleteObject",
            format!("{}/other-group.json", state_of_namespace.as_ref()),
        ),
        // POST /api/v2/silences, DELETE /api/v2/silence/{id}
        ("s3:PutObject", silences.as_ref().to_string()),
        // POST /api/v2/alerts
        ("s3:PutObject", alerts.as_ref().to_string()),
        // Every GET
        ("s3:GetObject", alerts.as_ref().to_string()),
        ("s3:ListBucket", String::new()),
    ] {
        assert!(
            allows(&query, action, &key),
            "the query function's policy does not allow {action} on {key}"
        );
    }
    // And no more than that.
    let segment = format!(
        "{}/0000.seg",
        stratus_storage::keys::segments_prefix(&t).as_ref()
    );
    for (action, key) in [
        ("s3:PutObject", segment.clone()),
        ("s3:DeleteObject", segment),
        ("s3:PutObject", state.as_ref().to_string()),
        (
            "s3:PutObject",
            stratus_notifier::state::nflog_key(&t, "r", "webhook[0]", "{}")
                .as_ref()
                .to_string(),
        ),
        ("s3:DeleteObject", alerts.as_ref().to_string()),
        ("s3:DeleteObject", silences.as_ref().to_string()),
    ] {
        assert!(
            !allows(&query, action, &key),
            "the query function's policy allows {action} on {key}, which it never does"
        );
    }

    // With SSE-KMS a function that writes needs the data key, one that
    // reads needs Decrypt.
    for name in ["ingest", "query", "compactor", "ruler", "notifier"] {
        let st = statements(&blocks, name);
        let kms = kms_actions(&blocks, name);
        let writes = st
            .iter()
            .any(|s| s.actions.iter().any(|a| a == "s3:PutObject"));
        let reads = st
            .iter()
            .any(|s| s.actions.iter().any(|a| a == "s3:GetObject"));
        assert_eq!(
            kms.iter().any(|a| a == "kms:GenerateDataKey"),
            writes,
            "{name}: kms:GenerateDataKey exactly when it writes: {kms:?}"
        );
        assert_eq!(
            kms.iter().any(|a| a == "kms:Decrypt"),
            reads,
            "{name}: kms:Decrypt exactly when it reads: {kms:?}"
        );
    }
}

/// The sub-blocks of `body` called `kind`, direct or `dynamic`.
fn nested<'a>(body: &'a Body, kind: &str) -> Vec<&'a Body> {
    blocks_named(body, kind)
}

/// Nothing under `tenants/` expires by age: the lifecycle rules abort
/// multipart uploads and expire noncurrent versions only, and retention is
/// the compactor's (rule files, rule state and rollups kept "forever" are
/// never deleted behind the catalog's back).
#[test]
fn no_lifecycle_rule_expires_current_objects_by_age() {
    let blocks = blocks(&module_dir());
    let lc = find(
        &blocks,
        "resource",
        &["aws_s3_bucket_lifecycle_configuration", "this"],
    )
    .expect("aws_s3_bucket_lifecycle_configuration.this");
    let rules = nested(&lc.body, "rule");
    assert!(!rules.is_empty());
    for rule in rules {
        let id = attr(rule, "id").map(text).unwrap_or_default();
        for e in nested(rule, "expiration") {
            for by_age in ["days", "date"] {
                assert!(
                    attr(e, by_age).is_none(),
                    "lifecycle rule {id} expires current objects by {by_age}: {}",
                    hcl::format::to_string(e).expect("formats")
                );
            }
        }
    }
    assert!(
        find(&blocks, "variable", &["retention_backstop_days"]).is_none(),
        "retention_backstop_days is gone with the rule"
    );
}

/// Versioning turned off is `Suspended`: AWS refuses `Disabled` for a
/// bucket that was ever versioned.
#[test]
fn versioning_off_is_suspended() {
    let blocks = blocks(&module_dir());
    let v = find(&blocks, "resource", &["aws_s3_bucket_versioning", "this"])
        .expect("aws_s3_bucket_versioning.this");
    let conf = nested(&v.body, "versioning_configuration");
    let status = conf
        .first()
        .and_then(|c| attr(c, "status"))
        .map(text)
        .expect("versioning_configuration.status");
    for versioning in [true, false] {
        let got = eval(
            &attr(conf[0], "status").expect("status").clone(),
            &[("versioning", hcl::Value::Bool(versioning))],
        );
        let want = if versioning { "Enabled" } else { "Suspended" };
        assert_eq!(
            got,
            hcl::Value::String(want.into()),
            "versioning = {versioning}: {status}"
        );
    }
}

/// `expr` evaluated with `var.<name>` set to `vars`.
fn eval(expr: &Expression, vars: &[(&str, hcl::Value)]) -> hcl::Value {
    let mut var = hcl::Map::new();
    for (k, v) in vars {
        var.insert((*k).to_string(), v.clone());
    }
    let mut ctx = Context::new();
    ctx.declare_var("var", hcl::Value::Object(var));
    expr.evaluate(&ctx)
        .unwrap_or_else(|e| panic!("{} does not evaluate: {e}", text(expr)))
}

/// A variable's default, evaluated.
fn default(blocks: &[Block], name: &str) -> hcl::Value {
    let v = find(blocks, "variable", &[name]).unwrap_or_else(|| panic!("no variable {name}"));
    eval(
        attr(&v.body, "default").unwrap_or_else(|| panic!("{name} has no default")),
        &[],
    )
}

/// With the defaults, `query_timeout` is below the query function's
/// timeout, and with `enable_api_gateway` below API Gateway's integration
/// timeout too, so the module's own check passes either way.
#[test]
fn the_default_query_timeout_fits_the_gateway_and_the_function() {
    let blocks = blocks(&module_dir());
    let function_s = match default(&blocks, "timeout_s") {
        hcl::Value::Object(o) => o
            .get("query")
            .and_then(hcl::Value::as_f64)
            .expect("timeout_s.query"),
        other => panic!("timeout_s: {other:?}"),
    };
    let integration = find(
        &blocks,
        "resource",
        &["aws_apigatewayv2_integration", "this"],
    )
    .expect("aws_apigatewayv2_integration.this");
    let gateway_s = eval(
        attr(&integration.body, "timeout_milliseconds").expect("timeout_milliseconds"),
        &[],
    )
    .as_f64()
    .expect("a number")
        / 1000.0;
    let effective = local(&blocks, "query_timeout");
    for gateway in [false, true] {
        let v = eval(
            effective,
            &[
                ("query_timeout", default(&blocks, "query_timeout")),
                ("enable_api_gateway", hcl::Value::Bool(gateway)),
            ],
        );
        let hcl::Value::String(v) = v else {
            panic!("local.query_timeout is not a string: {v:?}")
        };
        let secs = stratus_model::time::parse_std_duration(&v)
            .expect("a duration")
            .as_secs_f64();
        assert!(
            secs < function_s,
            "{v} is not below the query function's {function_s} s"
        );
        if gateway {
            assert!(
                secs < gateway_s,
                "{v} is not below API Gateway's {gateway_s} s"
            );
        }
    }
    // What the functions and the check use is the effective value.
    assert!(text(local(&blocks, "duration_s")).contains("local.query_timeout"));
    for name in ["query", "ruler"] {
        let env = field(settings(&blocks, name), "environment").expect("environment");
        assert_eq!(
            field(env, "STRATUS_QUERY_TIMEOUT").map(text).as_deref(),
            Some("local.query_timeout"),
            "{name}"
        );
    }
}

/// The route keys of the API Gateway (`local.api_routes`): method, path,
/// function.
fn api_routes(blocks: &[Block]) -> Vec<(String, String, String)> {
    let Expression::ForExpr(f) = local(blocks, "api_routes") else {
        panic!("local.api_routes is not a for expression");
    };
    let Expression::Object(o) = &f.collection_expr else {
        panic!("local.api_routes does not iterate over an object of routes");
    };
    o.iter()
        .map(|(k, v)| {
            let key = match k {
                ObjectKey::Expression(Expression::String(s)) => s.clone(),
                ObjectKey::Identifier(i) => i.to_string(),
                other => panic!("route key {other:?}"),
            };
            let (method, path) = key.split_once(' ').expect("METHOD /path");
            let Expression::String(function) = v else {
                panic!("{key}: target is not a function name: {v:?}")
            };
            (method.to_string(), path.to_string(), function.clone())
        })
        .collect()
}

/// An axum path with every `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a route path (`{param}` one segment, `{proxy+}` one or more)
/// matches `path`.
fn path_matches(route: &str, path: &str) -> bool {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    for (i, seg) in r.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with("+}") {
            return p.len() > i && p[i..].iter().all(|s| !s.is_empty());
        }
        match p.get(i) {
            Some(ps) if seg.starts_with('{') || seg == ps => {}
            _ => return false,
        }
    }
    r.len() == p.len()
}

/// API Gateway's choice among the route keys for `method path`: the most
/// specific match (no greedy variable before one, more literal segments,
/// a method of its own before ANY).
fn select<'a>(
    table: &'a [(String, String, String)],
    method: &str,
    path: &str,
) -> Option<&'a (String, String, String)> {
    table
        .iter()
        .filter(|(m, p, _)| (m == method || m == "ANY") && path_matches(p, path))
        .max_by_key(|(m, p, _)| {
            (
                !p.contains("+}"),
                p.split('/').filter(|s| !s.starts_with('{')).count(),
                m == method,
            )
        })
}

fn serves(routes: &[(&str, &str)], method: &str, path: &str) -> bool {
    routes
        .iter()
        .any(|(m, p)| *m == method && path_matches(p, path))
}

/// Every route the ingest and query functions serve reaches, through the
/// API Gateway's route table, a function that serves it; and every route
/// key leads somewhere.
#[test]
fn the_api_gateway_routes_every_route_the_functions_serve() {
    let blocks = blocks(&module_dir());
    let table = api_routes(&blocks);
    let functions = [("ingest", ingest_routes()), ("query", query_routes())];
    let served = |f: &str| {
        functions
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(_, r)| r.as_slice())
            .unwrap_or_else(|| panic!("the route table names {f}, which serves no HTTP"))
    };
    for (function, routes) in &functions {
        for (method, path) in routes {
            let p = concrete(path);
            let (km, kp, target) = select(&table, method, &p).unwrap_or_else(|| {
                panic!("{method} {path} of the {function} function has no API Gateway route")
            });
            assert!(
                serves(served(target), method, &p),
                "{method} {path} ({function}) is routed by \"{km} {kp}\" to {target}, which does not serve it"
            );
        }
    }
    for (method, path, target) in &table {
        let used = functions.iter().any(|(_, routes)| {
            routes.iter().any(|(m, p)| {
                let c = concrete(p);
                (m == method || method == "ANY")
                    && select(&table, m, &c).is_some_and(|(km, kp, _)| km == method && kp == path)
            })
        });
        assert!(
            used,
            "the route \"{method} {path}\" ({target}) serves nothing"
        );
    }
}

/// The route tables are what the routers serve: every listed method of a
/// listed path reaches a handler, every other method is refused with 405.
/// (The routers are built from the tables, so no other path is served.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_tables_are_what_the_routers_serve() {
    let bucket = Bucket::in_memory();
    let settings = Settings::default();
    let unrouted = || async { StatusCode::IM_A_TEAPOT };
    let apps = [
        (
            "ingest",
            ingest_app(bucket.clone(), &settings)
                .await
                .expect("ingest")
                .fallback(unrouted),
            ingest_routes(),
        ),
        (
            "query",
            query_app(bucket.clone(), &settings).fallback(unrouted),
            query_routes(),
        ),
    ];
    for (name, app, routes) in apps {
        let mut paths: Vec<&str> = routes.iter().map(|(_, p)| *p).collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
                let req = Request::builder()
                    .method(method)
                    .uri(concrete(path))
                    .body(HttpBody::empty())
                    .expect("request");
                let status = app.clone().oneshot(req).await.expect("response").status();
                assert_ne!(status, StatusCode::IM_A_TEAPOT, "{name}: {path} not routed");
                let listed = routes.contains(&(method, path));
                assert_eq!(
                    status != StatusCode::METHOD_NOT_ALLOWED,
                    listed,
                    "{name}: {method} {path} answers {status}, listed: {listed}"
                );
            }
        }
    }
}

/// The ingest function's default body limit is the largest body that fits
/// a Lambda event base64-encoded, and the module's default is the same.
#[test]
fn the_default_body_limit_fits_a_base64_lambda_event() {
    assert_eq!(
        Settings::default().http.max_body_bytes,
        LAMBDA_MAX_BODY_BYTES
    );
    let blocks = blocks(&module_dir());
    assert_eq!(
        default(&blocks, "max_body_bytes").as_u64(),
        Some(LAMBDA_MAX_BODY_BYTES as u64),
        "variable max_body_bytes defaults to the Lambda limit"
    );
    // The limit as Function URLs and API Gateway deliver it: a body of
    // max_body_bytes, base64 in the event, fits the 6 MiB payload; one of
    // 6 MiB (the old default) does not.
    let body = vec![0xa5u8; LAMBDA_MAX_BODY_BYTES];
    for fixture in ["function-url-write.json", "apigw-v2-write.json"] {
        let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let mut event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
        let size = |event: &mut serde_json::Value, body: &[u8]| {
            event["body"] =
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(body));
            event["isBase64Encoded"] = serde_json::Value::Bool(true);
            serde_json::to_vec(event).expect("json").len()
        };
        let fits = size(&mut event, &body);
        assert!(
            fits <= LAMBDA_PAYLOAD_BYTES,
            "{fixture}: a body of {LAMBDA_MAX_BODY_BYTES} bytes makes a {fits}-byte event"
        );
        let old = size(&mut event, &vec![0u8; 6 << 20]);
        assert!(old > LAMBDA_PAYLOAD_BYTES, "{fixture}: {old}");
    }
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/terraform/README.md"),
    )
    .expect("README");
    assert!(
        readme.contains("max_samples_per_send"),
        "the README says how to size Prometheus's batches for the limit"
    );
}
