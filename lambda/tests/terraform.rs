//! The Terraform module and the functions agree: every binary in
//! `functions/src/bin/` (but the local runner) has its entry in
//! `local.function_settings` (`functions.tf`), over which the module makes
//! one Lambda function, role and log group per function, and that entry
//! sets every environment variable the function reads. Also checks the
//! least-privilege S3 actions per role. `terraform validate` needs the AWS provider, which cannot be
//! downloaded here, so the HCL is parsed with `hcl-rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};
use stratus_lambda::env::FUNCTIONS;

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
                    || r.ends_with("/tenants/*/notifier/silences.json")),
        "query writes rule files and silences only: {query_writes:?}"
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
