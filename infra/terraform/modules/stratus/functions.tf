# The functions, written once: every per-function resource (function, role,
# log group, policies, Function URL, schedule) is a for_each over
# local.lambdas. A key is the binary's name in lambda/src/bin, the
# <key> of <artifacts_dir>/<key>/bootstrap.zip and the key of memory_mb,
# timeout_s and reserved_concurrency.
locals {
  # What differs between the functions. Left out, an attribute takes its
  # value from function_defaults below.
  #   enabled              deployed at all (only the authorizer depends on a variable)
  #   description          of the Lambda function
  #   environment          every variable it reads (lambda/src/env.rs), as strings
  #   function_url         an AWS_IAM Function URL; with enable_api_gateway also an
  #                        API Gateway integration (see apigw.tf)
  #   ephemeral_storage_mb size of /tmp; null: Lambda's default
  #   schedule             an EventBridge Scheduler schedule invoking it, unretried
  #                        invocations dropped after max_event_age_s; null: none
  #   budget               the duration variable (a key of local.duration_s) that must
  #                        stay below its timeout; null: none
  #   s3_statements        its least-privilege S3 statements; []: no S3 policy at all
  #   kms                  the statement (sid, actions) its S3 policy gets on
  #                        kms_key_arn with SSE-KMS
  function_settings = {
    ingest = {
      description  = "Stratus remote_write ingest"
      function_url = true
      environment = {
        STRATUS_S3_BUCKET      = aws_s3_bucket.this.id
        STRATUS_MULTITENANCY   = tostring(var.multitenancy)
        STRATUS_MAX_BODY_BYTES = tostring(var.max_body_bytes)
        STRATUS_LOG_LEVEL      = var.log_level
      }
      # Create-only segment writes, nothing else.
      s3_statements = [
        {
          sid       = "WriteSegments"
          actions   = ["s3:PutObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*/segments/*"]
        },
      ]
      kms = { sid = "EncryptObjects", actions = ["kms:GenerateDataKey"] }
    }

    query = {
      description          = "Stratus Prometheus HTTP API (PromQL)"
      function_url         = true
      ephemeral_storage_mb = var.query_ephemeral_storage_mb
      environment = {
        STRATUS_S3_BUCKET           = aws_s3_bucket.this.id
        STRATUS_MULTITENANCY        = tostring(var.multitenancy)
        STRATUS_QUERY_TIMEOUT       = local.query_timeout
        STRATUS_CACHE_DIR           = local.cache_dir
        STRATUS_MAX_PENDING_DELETES = tostring(var.max_pending_deletes)
        STRATUS_ENABLE_FEATURE      = join(",", var.enable_features)
        STRATUS_WEB_CORS_ORIGIN     = var.cors_origin
        STRATUS_LOG_LEVEL           = var.log_level
      }
      # Reads everything under tenants/ (segments, blocks, catalogs) and
      # serves the management APIs, whose writes are exactly these keys:
      # rule files (Mimir's ruler config API; ruler/src/keys.rs), the state
      # of a deleted rule group or namespace (ruler/state/), silences
      # (/api/v2/silences) and posted alerts (POST /api/v2/alerts), the
      # notifier's objects of notifier/src/state.rs.
      s3_statements = [
        {
          sid       = "ReadTenants"
          actions   = ["s3:GetObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
        },
        {
          sid       = "ManageRules"
          actions   = ["s3:PutObject", "s3:DeleteObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*/rules/*"]
        },
        {
          sid       = "DeleteRuleState"
          actions   = ["s3:DeleteObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*/ruler/state/*"]
        },
        {
          sid     = "WriteSilencesAndAlerts"
          actions = ["s3:PutObject"]
          resources = [
            "${aws_s3_bucket.this.arn}/tenants/*/notifier/silences.json",
            "${aws_s3_bucket.this.arn}/tenants/*/notifier/alerts.json",
          ]
        },
        local.list_bucket_statement,
      ]
      # It writes (rules, silences, alerts) as well as reads.
      kms = local.encrypt_decrypt_statement
    }

    compactor = {
      description = "Stratus compactor, one bounded pass per schedule"
      environment = {
        STRATUS_S3_BUCKET             = aws_s3_bucket.this.id
        STRATUS_COMPACTION_BUDGET     = var.compaction_budget
        STRATUS_RETENTION_RAW         = var.retention_raw
        STRATUS_RETENTION_DOWNSAMPLED = var.retention_downsampled
        STRATUS_LOG_LEVEL             = var.log_level
      }
      # A failed pass is not retried: the next scheduled one picks up the work.
      schedule = {
        expression      = var.compaction_schedule
        description     = "Runs one Stratus compaction pass"
        max_event_age_s = 300
      }
      budget = "compaction_budget"
      # Reads, writes (blocks, catalog with If-Match) and deletes under tenants/.
      s3_statements = [
        {
          sid       = "ReadWriteTenants"
          actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
        },
        local.list_bucket_statement,
      ]
      kms = local.encrypt_decrypt_statement
    }

    ruler = {
      description = "Stratus ruler: evaluates due rule groups, hands alerts to the notifier"
      environment = {
        STRATUS_S3_BUCKET      = aws_s3_bucket.this.id
        STRATUS_RULER_BUDGET   = var.ruler_budget
        STRATUS_RULER_WATCHDOG = tostring(var.ruler_watchdog)
        STRATUS_EXTERNAL_URL   = var.external_url
        STRATUS_QUERY_TIMEOUT  = local.query_timeout
        STRATUS_ENABLE_FEATURE = join(",", var.enable_features)
        STRATUS_LOG_LEVEL      = var.log_level
        # Read at cold start when the object exists, then looked at (ETag) at
        # every invocation and read again when it changed.
        STRATUS_ALERTMANAGER_CONFIG_KEY = local.alertmanager_config_key
      }
      # The ruler and the notifier are not retried either: state is in the
      # bucket and the next invocation carries on from it (missed evaluations
      # are counted).
      schedule = {
        expression      = var.ruler_schedule
        description     = "Evaluates the Stratus rule groups that are due"
        max_event_age_s = 60
      }
      budget = "ruler_budget"
      # Reads everything under tenants/ (it queries, like the query
      # function), writes recording-rule segments, its own state and history,
      # and hands alerts to the notifier.
      s3_statements = [
        local.read_alertmanager_config_statement,
        {
          sid       = "ReadTenants"
          actions   = ["s3:GetObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
        },
        {
          sid     = "WriteSegmentsStateAlerts"
          actions = ["s3:PutObject"]
          resources = [
            "${aws_s3_bucket.this.arn}/tenants/*/segments/*",
            "${aws_s3_bucket.this.arn}/tenants/*/ruler/*",
            "${aws_s3_bucket.this.arn}/tenants/*/notifier/*",
          ]
        },
        local.list_bucket_statement,
      ]
      kms = local.encrypt_decrypt_statement
    }

    notifier = {
      description = "Stratus notifier: groups, silences, inhibits, routes and sends alerts"
      environment = {
        STRATUS_S3_BUCKET       = aws_s3_bucket.this.id
        STRATUS_NOTIFIER_BUDGET = var.notifier_budget
        STRATUS_NOTIFIER_TICK   = var.notifier_tick
        STRATUS_EXTERNAL_URL    = var.external_url
        STRATUS_LOG_LEVEL       = var.log_level
        # Read at cold start when the object exists, then looked at (ETag) at
        # every invocation and read again when it changed.
        STRATUS_ALERTMANAGER_CONFIG_KEY = local.alertmanager_config_key
      }
      schedule = {
        expression      = var.notifier_schedule
        description     = "Runs the Stratus notifier (grouping timers, retries)"
        max_event_age_s = 60
      }
      budget = "notifier_budget"
      # Its own objects only (alerts, groups, notification log, silences).
      s3_statements = [
        local.read_alertmanager_config_statement,
        {
          sid       = "ReadWriteNotifier"
          actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          resources = ["${aws_s3_bucket.this.arn}/tenants/*/notifier/*"]
        },
        local.list_bucket_statement,
      ]
      kms = local.encrypt_decrypt_statement
    }

    # Only with the API Gateway; no S3 access at all.
    authorizer = {
      enabled     = var.enable_api_gateway
      description = "Stratus API Gateway bearer-token authorizer"
      environment = {
        STRATUS_BEARER_TOKEN_SHA256 = join(",", var.bearer_token_sha256s)
        STRATUS_LOG_LEVEL           = var.log_level
      }
    }
  }

  function_defaults = {
    function_url         = false
    ephemeral_storage_mb = null
    schedule             = null
    budget               = null
    s3_statements        = []
    kms                  = null
  }

  # Statements several functions' S3 policies share.
  list_bucket_statement = {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }
  read_alertmanager_config_statement = {
    sid       = "ReadAlertmanagerConfig"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.alertmanager_config_key}"]
  }
  encrypt_decrypt_statement = { sid = "EncryptDecryptObjects", actions = ["kms:Decrypt", "kms:GenerateDataKey"] }

  # The deployed functions with every attribute, what the resources iterate over.
  lambdas = {
    for k, f in local.function_settings : k => merge(local.function_defaults, f, {
      name                 = "${var.name_prefix}-${k}"
      zip                  = "${var.artifacts_dir}/${k}/bootstrap.zip"
      memory_mb            = var.memory_mb[k]
      timeout_s            = var.timeout_s[k]
      reserved_concurrency = lookup(var.reserved_concurrency, k, null)
    }) if lookup(f, "enabled", true)
  }

  # Function name by key (also the output function_names).
  functions = { for k, f in local.lambdas : k => f.name }
  # The functions behind a Function URL: ingest and query.
  url_functions = { for k, f in local.lambdas : k => f if f.function_url }
  # The scheduled functions (compactor, ruler, notifier) and their schedules.
  schedules = { for k, f in local.lambdas : k => f.schedule if f.schedule != null }
}
