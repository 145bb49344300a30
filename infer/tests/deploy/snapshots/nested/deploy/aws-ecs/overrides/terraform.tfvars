# created by c4forge from nested.puml; this file is yours: c4forge creates it once and never overwrites it.
# Fill in and pass with: terraform apply -var-file=overrides/terraform.tfvars
# Secrets never go here: pass them as TF_VAR_<name> environment variables.

# The AWS account to deploy into.
account_id = ""

# The region, e.g. "eu-west-1".
region = ""

# The domain the API is served under, e.g. "api.example.com".
domain = ""
