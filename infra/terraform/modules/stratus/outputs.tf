output "remote_write_url" {
  description = "Prometheus remote_write URL on the ingest Function URL (AWS_IAM: requests must be SigV4-signed for service `lambda`)."
  value       = "${trimsuffix(aws_lambda_function_url.this["ingest"].function_url, "/")}/api/v1/write"
}

output "remote_write_url_bearer" {
  description = "remote_write URL on the API Gateway (bearer token); null unless enable_api_gateway."
  value       = var.enable_api_gateway ? "${trimsuffix(aws_apigatewayv2_api.this[0].api_endpoint, "/")}/api/v1/write" : null
}

output "grafana_datasource_url" {
  description = "Prometheus data source URL for Grafana on the query Function URL (AWS_IAM: SigV4 for service `lambda`)."
  value       = trimsuffix(aws_lambda_function_url.this["query"].function_url, "/")
}

output "grafana_datasource_url_bearer" {
  description = "Prometheus data source URL on the API Gateway (bearer token); null unless enable_api_gateway."
  value       = var.enable_api_gateway ? trimsuffix(aws_apigatewayv2_api.this[0].api_endpoint, "/") : null
}

output "bucket_name" {
  description = "The metrics bucket."
  value       = aws_s3_bucket.this.id
}

output "function_names" {
  description = "Lambda function name by function key (ingest, query, compactor, ruler, notifier and, with the API Gateway, authorizer)."
  value       = local.functions
}

output "function_url_invoke_policy_json" {
  description = "IAM policy allowing a principal to call the ingest and query Function URLs."
  value       = data.aws_iam_policy_document.url_invoke.json
}
