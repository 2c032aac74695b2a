# Copy next to a root module (e.g. infra/terraform/examples/aws) to point the AWS
# provider at LocalStack; Terraform merges *_override.tf files into the provider block.
provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true

  endpoints {
    apigatewayv2 = "http://localhost:4566"
    iam          = "http://localhost:4566"
    lambda       = "http://localhost:4566"
    logs         = "http://localhost:4566"
    s3           = "http://localhost:4566"
    scheduler    = "http://localhost:4566"
    sts          = "http://localhost:4566"
  }
}
