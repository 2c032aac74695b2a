variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "Name of the metrics bucket. Null derives stratus-metrics-<account id>."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "Directory with <function>/bootstrap.zip. Null uses <repo>/target/lambda, where cargo lambda puts them."
  type        = string
  default     = null
}

variable "multitenancy" {
  description = "Take the tenant from the X-Scope-OrgID header."
  type        = bool
  default     = false
}

variable "enable_api_gateway" {
  description = "Also create the API Gateway with the bearer-token authorizer."
  type        = bool
  default     = false
}

variable "bearer_token_sha256s" {
  description = "SHA-256 digests (lowercase hex) of the accepted bearer tokens; needed with enable_api_gateway."
  type        = list(string)
  default     = []
  sensitive   = true
}
