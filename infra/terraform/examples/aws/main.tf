terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}

provider "aws" {
  region = var.region
}

module "stratus" {
  source = "../../modules/stratus"

  bucket_name          = var.bucket_name
  artifacts_dir        = coalesce(var.artifacts_dir, "${path.root}/../../../../target/lambda")
  multitenancy         = var.multitenancy
  enable_api_gateway   = var.enable_api_gateway
  bearer_token_sha256s = var.bearer_token_sha256s
}
