//! The Terraform module and the functions agree: every binary in
//! `functions/src/bin/` (but the local runner) has its Lambda resource,
//! role and log group, and its resource sets every environment variable
//! the function reads. Also checks the least-privilege S3 actions per
//! role. `terraform validate` needs the AWS provider, which cannot be
//! downloaded here, so the HCL is parsed with `hcl-rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};
use stratus_functions::env::FUNCTIONS;

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

#[test]
fn every_function_has_its_resource_role_log_group_and_environment() {
    let blocks = blocks(&module_dir());
    let listed: BTreeSet<String> = FUNCTIONS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        binaries(),
        listed,
        "functions/src/bin and env::FUNCTIONS must name the same functions"
    );

    let locals: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.identifier.as_str() == "locals")
        .collect();
    let keys = locals
        .iter()
        .find_map(|b| attr(&b.body, "function_keys"))
        .map(text)
        .expect("local.function_keys");
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

    for (name, reads) in FUNCTIONS {
        assert!(
            keys.contains(&format!("\"{name}\"")),
            "local.function_keys lacks {name}: {keys}"
        );
        let f = find(&blocks, "resource", &["aws_lambda_function", name])
            .unwrap_or_else(|| panic!("no aws_lambda_function.{name}"));
        let role_ref = attr(&f.body, "role").map(text).unwrap_or_default();
        assert_eq!(
            role_ref,
            format!("aws_iam_role.this[\"{name}\"].arn"),
            "{name} runs with its own role"
        );
        let deps = attr(&f.body, "depends_on").map(text).unwrap_or_default();
        assert!(
            deps.contains("aws_cloudwatch_log_group.this"),
            "{name} is created after its log group: {deps}"
        );
        assert_eq!(
            attr(&f.body, "architectures").map(strings),
            Some(vec!["arm64".to_string()]),
            "{name} runs on Graviton"
        );
        assert!(
            attr(&f.body, "filename")
                .map(text)
                .is_some_and(|t| t.contains(&format!("/{name}/bootstrap.zip"))),
            "{name} deploys target/lambda/{name}/bootstrap.zip"
        );
        let env = f
            .body
            .blocks()
            .find(|b| b.identifier.as_str() == "environment")
            .unwrap_or_else(|| panic!("{name} has no environment block"));
        let set: BTreeSet<String> = match attr(&env.body, "variables") {
            Some(Expression::Object(o)) => o.keys().map(|k| k.to_string()).collect(),
            other => panic!("{name}: environment.variables is not an object: {other:?}"),
        };
        for var in *reads {
            assert!(
                set.contains(*var),
                "{name} reads {var} but the Terraform module does not set it (sets {set:?})"
            );
        }
    }
}

/// The S3 actions a policy document grants, and the resources.
fn grants(blocks: &[Block], doc: &str) -> (BTreeSet<String>, Vec<String>) {
    let d = find(blocks, "data", &["aws_iam_policy_document", doc])
        .unwrap_or_else(|| panic!("no data.aws_iam_policy_document.{doc}"));
    let mut actions = BTreeSet::new();
    let mut resources = Vec::new();
    for s in d
        .body
        .blocks()
        .filter(|b| b.identifier.as_str() == "statement")
    {
        let acts = attr(&s.body, "actions").map(strings).unwrap_or_default();
        if acts.iter().all(|a| a.starts_with("s3:")) {
            actions.extend(acts);
            resources.extend(attr(&s.body, "resources").map(text));
        }
    }
    (actions, resources)
}

#[test]
fn roles_grant_least_privilege_on_the_bucket() {
    let blocks = blocks(&module_dir());
    let set = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let (ingest, where_) = grants(&blocks, "ingest_s3");
    assert_eq!(ingest, set(&["s3:PutObject"]), "ingest only writes");
    assert!(
        where_.iter().all(|r| r.contains("/tenants/*/segments/*")),
        "ingest writes segments only: {where_:?}"
    );
    let (query, _) = grants(&blocks, "query_s3");
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
    let writes = |doc: &str| {
        let d = find(&blocks, "data", &["aws_iam_policy_document", doc]).expect(doc);
        d.body
            .blocks()
            .filter(|b| b.identifier.as_str() == "statement")
            .filter(|s| {
                attr(&s.body, "actions")
                    .map(strings)
                    .unwrap_or_default()
                    .iter()
                    .any(|a| a == "s3:PutObject" || a == "s3:DeleteObject")
            })
            .flat_map(|s| match attr(&s.body, "resources") {
                Some(Expression::Array(items)) => items.iter().map(text).collect(),
                Some(other) => vec![text(other)],
                None => Vec::new(),
            })
            .map(|r| r.trim_matches('"').to_string())
            .collect::<Vec<_>>()
    };
    let query_writes = writes("query_s3");
    assert!(
        !query_writes.is_empty()
            && query_writes
                .iter()
                .all(|r| r.ends_with("/tenants/*/rules/*")
                    || r.ends_with("/tenants/*/notifier/silences.json")),
        "query writes rule files and silences only: {query_writes:?}"
    );
    let (ruler, _) = grants(&blocks, "ruler_s3");
    assert_eq!(
        ruler,
        set(&["s3:GetObject", "s3:ListBucket", "s3:PutObject"]),
        "the ruler never deletes"
    );
    let ruler_writes = writes("ruler_s3");
    assert!(
        ruler_writes
            .iter()
            .all(|r| r.ends_with("/tenants/*/segments/*")
                || r.ends_with("/tenants/*/ruler/*")
                || r.ends_with("/tenants/*/notifier/*")),
        "the ruler writes segments, its state and alerts for the notifier only: {ruler_writes:?}"
    );
    let notifier_writes = writes("notifier_s3");
    assert!(
        !notifier_writes.is_empty()
            && notifier_writes
                .iter()
                .all(|r| r.ends_with("/tenants/*/notifier/*")),
        "the notifier touches its own objects only: {notifier_writes:?}"
    );
    let (compactor, _) = grants(&blocks, "compactor_s3");
    assert_eq!(
        compactor,
        set(&[
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject"
        ]),
    );
    // The authorizer touches no S3 at all.
    assert!(find(
        &blocks,
        "data",
        &["aws_iam_policy_document", "authorizer_s3"]
    )
    .is_none());
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
    let policy = find(&blocks, "data", &["aws_iam_policy_document", "scheduler"])
        .map(|b| hcl::format::to_string(&b.body).expect("formats"))
        .expect("data.aws_iam_policy_document.scheduler");
    for name in ["compactor", "ruler", "notifier"] {
        let s = find(&blocks, "resource", &["aws_scheduler_schedule", name])
            .unwrap_or_else(|| panic!("no aws_scheduler_schedule.{name}"));
        let target = s
            .body
            .blocks()
            .find(|b| b.identifier.as_str() == "target")
            .unwrap_or_else(|| panic!("{name}'s schedule has no target"));
        assert_eq!(
            attr(&target.body, "arn").map(text),
            Some(format!("aws_lambda_function.{name}.arn")),
            "the {name} schedule invokes the {name} function"
        );
        assert!(
            policy.contains(&format!("aws_lambda_function.{name}")),
            "the scheduler role may invoke {name}"
        );
    }
}
