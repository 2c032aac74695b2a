# Optional HTTP API with a bearer-token authorizer, for clients that cannot
# SigV4-sign for the `lambda` service (Prometheus remote_write, Grafana).

locals {
  # The functions with a Function URL (ingest, query) are the ones behind the HTTP API.
  http_functions   = { for k in keys(local.url_functions) : k => aws_lambda_function.this[k] }
  api_integrations = { for k, f in local.http_functions : k => f.invoke_arn if var.enable_api_gateway }
  # Every route the functions serve (lambda/src/lib.rs ingest_routes and
  # query_routes; lambda/tests/terraform.rs checks each against this table
  # with API Gateway's matching): remote_write to ingest, the Prometheus
  # API, the ruler config API (/api/v1/rules/..., /config/v1/rules...),
  # the Alertmanager API (/api/v2/...), the health checks and all of
  # these under /prometheus to query.
  api_routes = {
    for route, fn in {
      "POST /api/v1/write"         = "ingest"
      "POST /api/v1/push"          = "ingest"
      "GET /api/v1/{proxy+}"       = "query"
      "POST /api/v1/{proxy+}"      = "query"
      "PUT /api/v1/{proxy+}"       = "query"
      "DELETE /api/v1/{proxy+}"    = "query"
      "GET /api/v2/{proxy+}"       = "query"
      "POST /api/v2/{proxy+}"      = "query"
      "DELETE /api/v2/{proxy+}"    = "query"
      "GET /config/v1/{proxy+}"    = "query"
      "POST /config/v1/{proxy+}"   = "query"
      "DELETE /config/v1/{proxy+}" = "query"
      "GET /-/healthy"             = "query"
      "GET /-/ready"               = "query"
      # Every query route again under Mimir's /prometheus prefix
      # (mimirtool's default; lambda/src/lib.rs query_routes lists them).
      "ANY /prometheus/{proxy+}" = "query"
    } : route => fn if var.enable_api_gateway
  }
}

resource "aws_apigatewayv2_api" "this" {
  count         = var.enable_api_gateway ? 1 : 0
  name          = "${var.name_prefix}-api"
  protocol_type = "HTTP"
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "this" {
  for_each               = local.api_integrations
  api_id                 = aws_apigatewayv2_api.this[0].id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = each.value
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

resource "aws_apigatewayv2_authorizer" "bearer" {
  count                             = var.enable_api_gateway ? 1 : 0
  api_id                            = aws_apigatewayv2_api.this[0].id
  name                              = "${var.name_prefix}-bearer"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = aws_lambda_function.this["authorizer"].invoke_arn
  identity_sources                  = ["$request.header.Authorization"]
  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = true
  authorizer_result_ttl_in_seconds  = var.authorizer_cache_ttl_seconds
}

resource "aws_apigatewayv2_route" "this" {
  for_each           = local.api_routes
  api_id             = aws_apigatewayv2_api.this[0].id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.this[each.value].id}"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.bearer[0].id
}

resource "aws_apigatewayv2_stage" "default" {
  count       = var.enable_api_gateway ? 1 : 0
  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags
}

resource "aws_lambda_permission" "apigw" {
  for_each      = local.api_integrations
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = local.http_functions[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this[0].execution_arn}/*/*"
}

resource "aws_lambda_permission" "authorizer" {
  count         = var.enable_api_gateway ? 1 : 0
  statement_id  = "AllowApiGatewayAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["authorizer"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this[0].execution_arn}/authorizers/${aws_apigatewayv2_authorizer.bearer[0].id}"
}
