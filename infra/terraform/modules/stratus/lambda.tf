resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.functions
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# One function per entry of local.lambdas (functions.tf).
resource "aws_lambda_function" "this" {
  for_each = local.lambdas

  function_name                  = each.value.name
  description                    = each.value.description
  role                           = aws_iam_role.this[each.key].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = each.value.zip
  source_code_hash               = filebase64sha256(each.value.zip)
  memory_size                    = each.value.memory_mb
  timeout                        = each.value.timeout_s
  reserved_concurrent_executions = each.value.reserved_concurrency

  dynamic "ephemeral_storage" {
    for_each = each.value.ephemeral_storage_mb == null ? [] : [each.value.ephemeral_storage_mb]
    content {
      size = ephemeral_storage.value
    }
  }

  environment {
    variables = each.value.environment
  }

  lifecycle {
    precondition {
      condition     = each.value.budget == null ? true : (local.duration_s[each.value.budget] == null || local.duration_s[each.value.budget] < each.value.timeout_s)
      error_message = "${coalesce(each.value.budget, "budget")} must stay below the ${each.key}'s timeout (timeout_s[\"${each.key}\"])."
    }
    precondition {
      condition     = each.key != "authorizer" || length(var.bearer_token_sha256s) > 0
      error_message = "enable_api_gateway needs at least one digest in bearer_token_sha256s."
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.logs]
}

resource "aws_lambda_function_url" "this" {
  for_each           = local.url_functions
  function_name      = aws_lambda_function.this[each.key].function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

# Scheduled invocations are not retried: the next one picks up the work.
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each                     = local.schedules
  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = each.value.max_event_age_s
}

resource "aws_scheduler_schedule" "this" {
  for_each            = local.schedules
  name                = "${var.name_prefix}-${each.key}"
  description         = each.value.description
  schedule_expression = each.value.expression

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this[each.key].arn
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
