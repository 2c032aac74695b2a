# Addresses of the module before its functions became one for_each over
# local.lambdas (functions.tf): these blocks let an existing deployment keep
# every object (terraform plan shows "has moved to") instead of destroying
# and recreating it. A moved block whose old address is not in the state
# (a new deployment, or the authorizer without the API Gateway) does nothing.
# moved blocks take no for_each, hence one per address. The policy documents
# (data.aws_iam_policy_document.<function>_s3, now .s3["<function>"]) are
# data sources, read again on every plan, so they need none.

moved {
  from = aws_lambda_function.ingest
  to   = aws_lambda_function.this["ingest"]
}

moved {
  from = aws_lambda_function.query
  to   = aws_lambda_function.this["query"]
}

moved {
  from = aws_lambda_function.compactor
  to   = aws_lambda_function.this["compactor"]
}

moved {
  from = aws_lambda_function.ruler
  to   = aws_lambda_function.this["ruler"]
}

moved {
  from = aws_lambda_function.notifier
  to   = aws_lambda_function.this["notifier"]
}

moved {
  from = aws_lambda_function.authorizer[0]
  to   = aws_lambda_function.this["authorizer"]
}

moved {
  from = aws_lambda_function_url.ingest
  to   = aws_lambda_function_url.this["ingest"]
}

moved {
  from = aws_lambda_function_url.query
  to   = aws_lambda_function_url.this["query"]
}

moved {
  from = aws_lambda_function_event_invoke_config.compactor
  to   = aws_lambda_function_event_invoke_config.this["compactor"]
}

moved {
  from = aws_lambda_function_event_invoke_config.alerting["ruler"]
  to   = aws_lambda_function_event_invoke_config.this["ruler"]
}

moved {
  from = aws_lambda_function_event_invoke_config.alerting["notifier"]
  to   = aws_lambda_function_event_invoke_config.this["notifier"]
}

moved {
  from = aws_scheduler_schedule.compactor
  to   = aws_scheduler_schedule.this["compactor"]
}

moved {
  from = aws_scheduler_schedule.ruler
  to   = aws_scheduler_schedule.this["ruler"]
}

moved {
  from = aws_scheduler_schedule.notifier
  to   = aws_scheduler_schedule.this["notifier"]
}
