# Terraform (or OpenTofu) with lambdazip's zips (docs/with-terraform.md). Build first:
#   lambdazip build --json > dist/build.json
# A rebuild of the same inputs writes the same bytes: the plan stays empty.
locals {
  built = { for a in jsondecode(file("${path.module}/dist/build.json")).artifacts : a.name => a }
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "deps"
  filename                 = local.built.deps.zip
  source_code_hash         = filebase64sha256(local.built.deps.zip)
  compatible_runtimes      = [local.built.deps.runtime]
  compatible_architectures = [local.built.deps.architecture]
}

resource "aws_lambda_function" "api" {
  function_name    = "api"
  role             = var.role_arn
  filename         = local.built.api.zip
  source_code_hash = local.built.api.code_sha256 # the same as filebase64sha256(filename)
  handler          = local.built.api.handler
  runtime          = local.built.api.runtime
  architectures    = [local.built.api.architecture]
  layers           = [aws_lambda_layer_version.deps.arn]
}

variable "role_arn" {
  type = string
}
