data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# One role per function, keyed by function name.
resource "aws_iam_role" "this" {
  for_each           = local.functions
  name               = each.value
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

# Each function writes to its own log group only.
data "aws_iam_policy_document" "logs" {
  for_each = local.functions

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  for_each = local.functions
  name     = "logs"
  role     = aws_iam_role.this[each.key].id
  policy   = data.aws_iam_policy_document.logs[each.key].json
}

# Each function's S3 statements (local.lambdas, functions.tf) and, with
# SSE-KMS, its KMS statement on the key. The authorizer has no S3 statements,
# so no S3 policy at all.
data "aws_iam_policy_document" "s3" {
  for_each = { for k, f in local.lambdas : k => f if length(f.s3_statements) > 0 }

  dynamic "statement" {
    for_each = each.value.s3_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = each.value.kms.sid
      actions   = each.value.kms.actions
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "s3" {
  for_each = data.aws_iam_policy_document.s3
  name     = "s3"
  role     = aws_iam_role.this[each.key].id
  policy   = each.value.json
}

# EventBridge Scheduler may invoke the compactor, the ruler and the notifier, nothing else.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for k in keys(local.schedules) : [aws_lambda_function.this[k].arn, "${aws_lambda_function.this[k].arn}:*"]
    ])
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-scheduled-functions"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# What a caller of the Function URLs needs (attach it to the role Prometheus'
# signing agent or Grafana's proxy runs as). Since October 2025 new Function
# URLs require both actions.
data "aws_iam_policy_document" "url_invoke" {
  statement {
    actions   = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
    resources = [for k in keys(local.url_functions) : aws_lambda_function.this[k].arn]
  }
}
