# created by c4forge from placed.puml; this file is yours: c4forge creates it once and never overwrites it.
# Fill in and pass with: terraform apply -var-file=overrides/terraform.tfvars
account_id = "" # the AWS account to deploy into
region     = "" # e.g. "eu-west-1"
domain     = "" # e.g. "api.example.com"
