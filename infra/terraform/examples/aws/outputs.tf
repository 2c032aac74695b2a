output "remote_write_url" {
  description = "remote_write URL (ingest Function URL, SigV4 for service lambda)."
  value       = module.stratus.remote_write_url
}

output "remote_write_url_bearer" {
  description = "remote_write URL on the API Gateway (bearer token), when enabled."
  value       = module.stratus.remote_write_url_bearer
}

output "grafana_datasource_url" {
  description = "Grafana Prometheus data source URL (query Function URL, SigV4 for service lambda)."
  value       = module.stratus.grafana_datasource_url
}

output "grafana_datasource_url_bearer" {
  description = "Grafana Prometheus data source URL on the API Gateway (bearer token), when enabled."
  value       = module.stratus.grafana_datasource_url_bearer
}

output "bucket_name" {
  description = "The metrics bucket."
  value       = module.stratus.bucket_name
}
