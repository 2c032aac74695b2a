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

# ingest: create-only segment writes, nothing else.
data "aws_iam_policy_document" "ingest_s3" {
  statement {
    sid       = "WriteSegments"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/tenants/*/segments/*"]
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "EncryptObjects"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

# query: reads everything under tenants/ (segments, blocks, catalogs) and
# serves the management APIs: rule files (Mimir's ruler config API) and
# silences, the only objects it writes or deletes.
data "aws_iam_policy_document" "query_s3" {
  statement {
    sid       = "ReadTenants"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
  }

  statement {
    sid     = "ManageRulesAndSilences"
    actions = ["s3:PutObject", "s3:DeleteObject"]
    resources = [
      "${aws_s3_bucket.this.arn}/tenants/*/rules/*",
      "${aws_s3_bucket.this.arn}/tenants/*/notifier/silences.json",
    ]
  }

  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "DecryptObjects"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

# compactor: reads, writes (blocks, catalog with If-Match) and deletes under tenants/.
data "aws_iam_policy_document" "compactor_s3" {
  statement {
    sid       = "ReadWriteTenants"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
  }

  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "EncryptDecryptObjects"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

# ruler: reads everything under tenants/ (it queries, like the query
# function), writes recording-rule segments, its own state and history, and
# hands alerts to the notifier.
data "aws_iam_policy_document" "ruler_s3" {
  statement {
    sid       = "ReadAlertmanagerConfig"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.alertmanager_config_key}"]
  }

  statement {
    sid       = "ReadTenants"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/tenants/*"]
  }

  statement {
    sid     = "WriteSegmentsStateAlerts"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.this.arn}/tenants/*/segments/*",
      "${aws_s3_bucket.this.arn}/tenants/*/ruler/*",
      "${aws_s3_bucket.this.arn}/tenants/*/notifier/*",
    ]
  }

  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "EncryptDecryptObjects"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

# notifier: its own objects only (alerts, groups, notification log, silences).
data "aws_iam_policy_document" "notifier_s3" {
  statement {
    sid       = "ReadAlertmanagerConfig"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.alertmanager_config_key}"]
  }

  statement {
    sid       = "ReadWriteNotifier"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/tenants/*/notifier/*"]
  }

  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "EncryptDecryptObjects"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

# The authorizer gets no S3 policy at all.
resource "aws_iam_role_policy" "s3" {
  for_each = {
    ingest    = data.aws_iam_policy_document.ingest_s3.json
    query     = data.aws_iam_policy_document.query_s3.json
    compactor = data.aws_iam_policy_document.compactor_s3.json
    ruler     = data.aws_iam_policy_document.ruler_s3.json
    notifier  = data.aws_iam_policy_document.notifier_s3.json
  }
  name   = "s3"
  role   = aws_iam_role.this[each.key].id
  policy = each.value
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
      for f in [aws_lambda_function.compactor, aws_lambda_function.ruler, aws_lambda_function.notifier] : [f.arn, "${f.arn}:*"]
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
    actions = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
    resources = [
      aws_lambda_function.ingest.arn,
      aws_lambda_function.query.arn,
    ]
  }
}
