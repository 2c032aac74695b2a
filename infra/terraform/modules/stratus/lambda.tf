resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.functions
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "ingest" {
  function_name                  = local.functions["ingest"]
  description                    = "Stratus remote_write ingest"
  role                           = aws_iam_role.this["ingest"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/ingest/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/ingest/bootstrap.zip")
  memory_size                    = var.memory_mb["ingest"]
  timeout                        = var.timeout_s["ingest"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "ingest", null)

  environment {
    variables = {
      STRATUS_S3_BUCKET      = aws_s3_bucket.this.id
      STRATUS_MULTITENANCY   = tostring(var.multitenancy)
      STRATUS_MAX_BODY_BYTES = tostring(var.max_body_bytes)
      STRATUS_LOG_LEVEL      = var.log_level
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function" "query" {
  function_name                  = local.functions["query"]
  description                    = "Stratus Prometheus HTTP API (PromQL)"
  role                           = aws_iam_role.this["query"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/query/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/query/bootstrap.zip")
  memory_size                    = var.memory_mb["query"]
  timeout                        = var.timeout_s["query"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "query", null)

  ephemeral_storage {
    size = var.query_ephemeral_storage_mb
  }

  environment {
    variables = {
      STRATUS_S3_BUCKET           = aws_s3_bucket.this.id
      STRATUS_MULTITENANCY        = tostring(var.multitenancy)
      STRATUS_QUERY_TIMEOUT       = var.query_timeout
      STRATUS_CACHE_DIR           = local.cache_dir
      STRATUS_MAX_PENDING_DELETES = tostring(var.max_pending_deletes)
      STRATUS_ENABLE_FEATURE      = join(",", var.enable_features)
      STRATUS_LOG_LEVEL           = var.log_level
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function" "compactor" {
  function_name                  = local.functions["compactor"]
  description                    = "Stratus compactor, one bounded pass per schedule"
  role                           = aws_iam_role.this["compactor"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/compactor/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/compactor/bootstrap.zip")
  memory_size                    = var.memory_mb["compactor"]
  timeout                        = var.timeout_s["compactor"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "compactor", null)

  environment {
    variables = {
      STRATUS_S3_BUCKET             = aws_s3_bucket.this.id
      STRATUS_COMPACTION_BUDGET     = var.compaction_budget
      STRATUS_RETENTION_RAW         = var.retention_raw
      STRATUS_RETENTION_DOWNSAMPLED = var.retention_downsampled
      STRATUS_LOG_LEVEL             = var.log_level
    }
  }

  lifecycle {
    precondition {
      condition     = local.duration_s.compaction_budget == null || local.duration_s.compaction_budget < var.timeout_s["compactor"]
      error_message = "compaction_budget must stay below the compactor's timeout (timeout_s[\"compactor\"])."
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function" "ruler" {
  function_name                  = local.functions["ruler"]
  description                    = "Stratus ruler: evaluates due rule groups, hands alerts to the notifier"
  role                           = aws_iam_role.this["ruler"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/ruler/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/ruler/bootstrap.zip")
  memory_size                    = var.memory_mb["ruler"]
  timeout                        = var.timeout_s["ruler"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "ruler", null)

  environment {
    variables = {
      STRATUS_S3_BUCKET      = aws_s3_bucket.this.id
      STRATUS_RULER_BUDGET   = var.ruler_budget
      STRATUS_RULER_WATCHDOG = tostring(var.ruler_watchdog)
      STRATUS_EXTERNAL_URL   = var.external_url
      STRATUS_QUERY_TIMEOUT  = var.query_timeout
      STRATUS_ENABLE_FEATURE = join(",", var.enable_features)
      STRATUS_LOG_LEVEL      = var.log_level
      # Read at cold start when the object exists (see alertmanager_config).
      STRATUS_ALERTMANAGER_CONFIG_KEY = local.alertmanager_config_key
    }
  }

  lifecycle {
    precondition {
      condition     = local.duration_s.ruler_budget == null || local.duration_s.ruler_budget < var.timeout_s["ruler"]
      error_message = "ruler_budget must stay below the ruler's timeout (timeout_s[\"ruler\"])."
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function" "notifier" {
  function_name                  = local.functions["notifier"]
  description                    = "Stratus notifier: groups, silences, inhibits, routes and sends alerts"
  role                           = aws_iam_role.this["notifier"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/notifier/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/notifier/bootstrap.zip")
  memory_size                    = var.memory_mb["notifier"]
  timeout                        = var.timeout_s["notifier"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "notifier", null)

  environment {
    variables = {
      STRATUS_S3_BUCKET       = aws_s3_bucket.this.id
      STRATUS_NOTIFIER_BUDGET = var.notifier_budget
      STRATUS_NOTIFIER_TICK   = var.notifier_tick
      STRATUS_EXTERNAL_URL    = var.external_url
      STRATUS_LOG_LEVEL       = var.log_level
      # Read at cold start when the object exists (see alertmanager_config).
      STRATUS_ALERTMANAGER_CONFIG_KEY = local.alertmanager_config_key
    }
  }

  lifecycle {
    precondition {
      condition     = local.duration_s.notifier_budget == null || local.duration_s.notifier_budget < var.timeout_s["notifier"]
      error_message = "notifier_budget must stay below the notifier's timeout (timeout_s[\"notifier\"])."
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function" "authorizer" {
  count = var.enable_api_gateway ? 1 : 0

  function_name                  = local.functions["authorizer"]
  description                    = "Stratus API Gateway bearer-token authorizer"
  role                           = aws_iam_role.this["authorizer"].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = "${var.artifacts_dir}/authorizer/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/authorizer/bootstrap.zip")
  memory_size                    = var.memory_mb["authorizer"]
  timeout                        = var.timeout_s["authorizer"]
  reserved_concurrent_executions = lookup(var.reserved_concurrency, "authorizer", null)

  environment {
    variables = {
      STRATUS_BEARER_TOKEN_SHA256 = join(",", var.bearer_token_sha256s)
      STRATUS_LOG_LEVEL           = var.log_level
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.bearer_token_sha256s) > 0
      error_message = "enable_api_gateway needs at least one digest in bearer_token_sha256s."
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function_url" "ingest" {
  function_name      = aws_lambda_function.ingest.function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_function_url" "query" {
  function_name      = aws_lambda_function.query.function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

# A failed pass is not retried: the next scheduled one picks up the work.
resource "aws_lambda_function_event_invoke_config" "compactor" {
  function_name                = aws_lambda_function.compactor.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 300
}

resource "aws_scheduler_schedule" "compactor" {
  name                = "${var.name_prefix}-compactor"
  description         = "Runs one Stratus compaction pass"
  schedule_expression = var.compaction_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.compactor.arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      scheduled_time = "<aws.scheduler.scheduled-time>"
      execution_id   = "<aws.scheduler.execution-id>"
    })

    retry_policy {
      maximum_retry_attempts = 0
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

# The ruler and the notifier are not retried either: state is in the bucket
# and the next invocation carries on from it (missed evaluations are counted).
resource "aws_lambda_function_event_invoke_config" "alerting" {
  for_each                     = toset(["ruler", "notifier"])
  function_name                = local.functions[each.key]
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60

  depends_on = [aws_lambda_function.ruler, aws_lambda_function.notifier]
}

resource "aws_scheduler_schedule" "ruler" {
  name                = "${var.name_prefix}-ruler"
  description         = "Evaluates the Stratus rule groups that are due"
  schedule_expression = var.ruler_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.ruler.arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      scheduled_time = "<aws.scheduler.scheduled-time>"
      execution_id   = "<aws.scheduler.execution-id>"
    })

    retry_policy {
      maximum_retry_attempts = 0
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

resource "aws_scheduler_schedule" "notifier" {
  name                = "${var.name_prefix}-notifier"
  description         = "Runs the Stratus notifier (grouping timers, retries)"
  schedule_expression = var.notifier_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.notifier.arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      scheduled_time = "<aws.scheduler.scheduled-time>"
      execution_id   = "<aws.scheduler.execution-id>"
    })

    retry_policy {
      maximum_retry_attempts = 0
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

# The notifier's Alertmanager configuration, read by the ruler and notifier
# functions at cold start. Without it alerts are kept and shown, not sent.
resource "aws_s3_object" "alertmanager_config" {
  count        = var.alertmanager_config == null ? 0 : 1
  bucket       = aws_s3_bucket.this.id
  key          = local.alertmanager_config_key
  content      = var.alertmanager_config
  content_type = "application/yaml"
  tags         = var.tags
}
