variable "name_prefix" {
  description = "Prefix of every resource name (functions are named <prefix>-<function>)."
  type        = string
  default     = "stratus"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 characters of lowercase letters, digits and hyphens."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket to create. Null derives <name_prefix>-metrics-<account id>."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip as built by `cargo lambda build --release --arm64 --output-format zip` (normally <repo>/target/lambda)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}

# --- Bucket -----------------------------------------------------------------

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS (with an S3 bucket key). Null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "versioning" {
  description = "Enable bucket versioning. Noncurrent versions then expire after noncurrent_version_days."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days after which noncurrent object versions expire (only with versioning)."
  type        = number
  default     = 7
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects."
  type        = bool
  default     = false
}

# --- What the functions read (STRATUS_*) -------------------------------------

variable "multitenancy" {
  description = "Take the tenant from the X-Scope-OrgID header (STRATUS_MULTITENANCY); false stores everything as tenant `anonymous`."
  type        = bool
  default     = false
}

variable "max_body_bytes" {
  description = "Largest accepted remote_write body in bytes (STRATUS_MAX_BODY_BYTES). Function URLs and API Gateway deliver the protobuf body base64-encoded in a Lambda event of at most 6 MiB, so no body above 4620288 bytes ((6 MiB - 128 KiB of event envelope) x 3/4, about 4.4 MiB) reaches the function: Lambda answers 413 first. Larger values have no effect."
  type        = number
  default     = 4620288

  validation {
    condition     = var.max_body_bytes > 0 && var.max_body_bytes <= 4620288
    error_message = "max_body_bytes must be above 0 and at most 4620288: a larger base64-encoded body does not fit a 6 MiB Lambda event."
  }
}

variable "query_timeout" {
  description = "PromQL evaluation timeout, a humantime duration (STRATUS_QUERY_TIMEOUT). Keep it below the query function's timeout, and below API Gateway's 30 s with enable_api_gateway. null: \"25s\" with enable_api_gateway, else \"50s\"."
  type        = string
  default     = null

  validation {
    condition     = var.query_timeout == null || can(regex("^([0-9]+ ?[a-zµ]+ ?)+$", var.query_timeout))
    error_message = "query_timeout must be a humantime duration such as \"30s\" or \"2m\"."
  }
}

variable "cors_origin" {
  description = "STRATUS_WEB_CORS_ORIGIN of the query function, as Prometheus's --web.cors.origin: a regular expression matched against the whole Origin header of browser requests; \".*\" answers every origin with Access-Control-Allow-Origin: *."
  type        = string
  default     = ".*"

  validation {
    condition     = can(regexall(var.cors_origin, ""))
    error_message = "cors_origin must be a regular expression."
  }
}

variable "max_pending_deletes" {
  description = "Delete requests a tenant may have pending before more are refused with a 400 (STRATUS_MAX_PENDING_DELETES); 0: no limit. The query function serves no delete API yet, so this only takes effect once it does."
  type        = number
  default     = 0

  validation {
    condition     = var.max_pending_deletes >= 0 && floor(var.max_pending_deletes) == var.max_pending_deletes
    error_message = "max_pending_deletes must be a whole number, 0 or more."
  }
}

variable "compaction_budget" {
  description = "How long one scheduled compaction pass keeps starting jobs, a humantime duration (STRATUS_COMPACTION_BUDGET). Must stay below the compactor's timeout."
  type        = string
  default     = "10m"

  validation {
    condition     = can(regex("^([0-9]+ ?[a-zµ]+ ?)+$", var.compaction_budget))
    error_message = "compaction_budget must be a humantime duration such as \"10m\"."
  }
}

variable "retention_raw" {
  description = "Retention of raw samples, a humantime duration (STRATUS_RETENTION_RAW); \"0s\" keeps them forever."
  type        = string
  default     = "30d"

  validation {
    condition     = can(regex("^([0-9]+ ?[a-zµ]+ ?)+$", var.retention_raw))
    error_message = "retention_raw must be a humantime duration such as \"30d\"."
  }
}

variable "retention_downsampled" {
  description = "Retention of downsampled rollups, a humantime duration (STRATUS_RETENTION_DOWNSAMPLED); \"0s\" keeps them forever."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^([0-9]+ ?[a-zµ]+ ?)+$", var.retention_downsampled))
    error_message = "retention_downsampled must be a humantime duration such as \"365d\" or \"0s\"."
  }
}

variable "log_level" {
  description = "Log filter of every function (STRATUS_LOG_LEVEL), e.g. \"info\" or \"debug\"."
  type        = string
  default     = "info"
}

variable "enable_features" {
  description = "Features of the query and ruler functions (STRATUS_ENABLE_FEATURE, comma-joined), as Prometheus's --enable-feature: \"promql-delayed-name-removal\" turns on Prometheus 3's experimental delayed __name__ removal. Unknown names are logged and ignored."
  type        = list(string)
  default     = []
}

variable "bearer_token_sha256s" {
  description = "Lowercase hex SHA-256 digests of the bearer tokens the API Gateway authorizer accepts (STRATUS_BEARER_TOKEN_SHA256, comma-joined). Required when enable_api_gateway is true."
  type        = list(string)
  default     = []
  sensitive   = true

  validation {
    condition     = alltrue([for d in var.bearer_token_sha256s : can(regex("^[0-9a-f]{64}$", d))])
    error_message = "Every entry of bearer_token_sha256s must be 64 lowercase hex characters (sha256sum of the token)."
  }
}

# --- Function sizing --------------------------------------------------------

variable "memory_mb" {
  description = "Memory (MB) per function; Lambda allocates CPU in proportion (1769 MB = one vCPU)."
  type        = map(number)
  default = {
    ingest     = 512
    query      = 1769
    compactor  = 3008
    ruler      = 1024
    notifier   = 256
    authorizer = 128
  }

  validation {
    condition     = alltrue([for f in ["ingest", "query", "compactor", "ruler", "notifier", "authorizer"] : contains(keys(var.memory_mb), f)])
    error_message = "memory_mb must have an entry for each of ingest, query, compactor, ruler, notifier and authorizer."
  }
}

variable "timeout_s" {
  description = "Timeout (seconds) per function."
  type        = map(number)
  default = {
    ingest     = 30
    query      = 60
    compactor  = 900
    ruler      = 120
    notifier   = 120
    authorizer = 5
  }

  validation {
    condition     = alltrue([for f in ["ingest", "query", "compactor", "ruler", "notifier", "authorizer"] : contains(keys(var.timeout_s), f)])
    error_message = "timeout_s must have an entry for each of ingest, query, compactor, ruler, notifier and authorizer."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function (keys ingest, query, compactor, ruler, notifier, authorizer); a missing key leaves that function unreserved. The compactor, ruler and notifier default to 1: concurrent runs are safe (their state is updated by conditional writes) but only waste work."
  type        = map(number)
  default     = { compactor = 1, ruler = 1, notifier = 1 }
}

variable "query_ephemeral_storage_mb" {
  description = "Size of the query function's /tmp (MB), where its caches live (STRATUS_CACHE_DIR=/tmp/stratus-cache)."
  type        = number
  default     = 2048

  validation {
    condition     = var.query_ephemeral_storage_mb >= 512 && var.query_ephemeral_storage_mb <= 10240
    error_message = "query_ephemeral_storage_mb must be between 512 and 10240."
  }
}

variable "log_retention_days" {
  description = "Retention of each function's CloudWatch log group, in days (0 = never expire)."
  type        = number
  default     = 30

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (0, 1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

# --- Schedule and API Gateway -----------------------------------------------

variable "compaction_schedule" {
  description = "EventBridge Scheduler expression running the compactor."
  type        = string
  default     = "rate(5 minutes)"
}

variable "ruler_schedule" {
  description = "EventBridge Scheduler expression running the ruler. Each run evaluates every group that is due and, for intervals shorter than the schedule, keeps evaluating for ruler_budget."
  type        = string
  default     = "rate(1 minute)"
}

variable "ruler_budget" {
  description = "How long one ruler invocation keeps evaluating groups as they fall due, a humantime duration (STRATUS_RULER_BUDGET). 0s evaluates once. Must stay below the ruler's timeout."
  type        = string
  default     = "50s"
}

variable "ruler_watchdog" {
  description = "Add an always-firing Watchdog alert per tenant (a dead man's switch for the whole alerting path)."
  type        = bool
  default     = true
}

variable "notifier_schedule" {
  description = "EventBridge Scheduler expression running the notifier."
  type        = string
  default     = "rate(1 minute)"
}

variable "notifier_budget" {
  description = "How long one notifier invocation keeps ticking (group_wait, group_interval, retries), a humantime duration (STRATUS_NOTIFIER_BUDGET). Must stay below the notifier's timeout."
  type        = string
  default     = "50s"
}

variable "notifier_tick" {
  description = "How often the notifier looks at its groups within one invocation (STRATUS_NOTIFIER_TICK): the resolution of group_wait and group_interval."
  type        = string
  default     = "10s"
}

variable "alertmanager_config" {
  description = "Alertmanager configuration (YAML: route, receivers, inhibit_rules) of the built-in notifier, stored in the bucket as config/alertmanager.yaml. It may hold secrets (webhook URLs, routing keys): the bucket is private and encrypted. The ruler and notifier functions look at its ETag at every invocation, so a change takes effect at the next one. null: alerts are kept and shown but sent nowhere."
  type        = string
  default     = null
  sensitive   = true
}

variable "external_url" {
  description = "The URL users reach Stratus at (alert generatorURL, externalURL of notifications). Empty: the query Function URL is not known to the functions, and links are left out."
  type        = string
  default     = ""
}

variable "enable_api_gateway" {
  description = "Also create an API Gateway HTTP API with a bearer-token Lambda authorizer in front of ingest and query (and the authorizer function)."
  type        = bool
  default     = false
}

variable "authorizer_cache_ttl_seconds" {
  description = "How long API Gateway caches an authorizer decision per Authorization header (0-3600)."
  type        = number
  default     = 300
}
