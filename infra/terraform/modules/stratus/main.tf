data "aws_caller_identity" "current" {}

locals {
  # The functions (local.functions, local.lambdas) are in functions.tf.
  bucket_name = coalesce(var.bucket_name, "${var.name_prefix}-metrics-${data.aws_caller_identity.current.account_id}")
  cache_dir   = "/tmp/stratus-cache"
  # Outside tenants/: no tenant-facing API can write it.
  alertmanager_config_key = "config/alertmanager.yaml"
  kms_keys                = var.kms_key_arn == null ? [] : [var.kms_key_arn]
  # API Gateway ends every integration at 30 s (cold start and answer
  # included), so with it the default leaves 5 s; a Function URL allows the
  # query function's whole timeout (60 s).
  query_timeout = var.query_timeout != null ? var.query_timeout : (var.enable_api_gateway ? "25s" : "50s")

  # Seconds of the single-unit durations ("90s", "10m", "30d"); null for anything else, which skips the checks.
  unit_s = { s = 1, m = 60, h = 3600, d = 86400 }
  duration_s = {
    for k, v in {
      query_timeout         = local.query_timeout
      compaction_budget     = var.compaction_budget
      ruler_budget          = var.ruler_budget
      notifier_budget       = var.notifier_budget
      retention_raw         = var.retention_raw
      retention_downsampled = var.retention_downsampled
    } : k => try(tonumber(regex("^([0-9]+)([smhd])$", v)[0]) * local.unit_s[regex("^([0-9]+)([smhd])$", v)[1]], null)
  }
}

resource "aws_s3_bucket" "this" {
  bucket        = local.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    # "Disabled" is only accepted for a bucket that was never versioned;
    # turning versioning off is "Suspended".
    status = var.versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # No expiry by age under tenants/: retention is the compactor's
  # (retention_raw, retention_downsampled), which deletes what the catalog
  # no longer names. A lifecycle prefix cannot select tenants/*/segments/
  # (prefixes have no wildcards) and would also hit rule files, state and
  # rollups kept "forever" that the catalog still names (README).

  dynamic "rule" {
    for_each = var.versioning ? [var.noncurrent_version_days] : []
    content {
      id     = "expire-noncurrent-versions"
      status = "Enabled"
      filter {}
      noncurrent_version_expiration {
        noncurrent_days = rule.value
      }
      expiration {
        expired_object_delete_marker = true
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

check "query_timeout_below_function_timeout" {
  assert {
    condition = local.duration_s.query_timeout == null || (
      local.duration_s.query_timeout < var.timeout_s["query"] &&
      (!var.enable_api_gateway || local.duration_s.query_timeout < 30)
    )
    error_message = "query_timeout is not below the query function's timeout (or API Gateway's 30 s integration limit): long queries end as Lambda timeouts instead of PromQL errors."
  }
}
