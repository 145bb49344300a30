# created by c4forge from placed.puml; this file is yours: c4forge creates it once and never overwrites it.
# Fill in and pass with: terraform apply -var-file=overrides/terraform.tfvars
project_id = "" # the Google Cloud project
region     = "" # e.g. "europe-west1"
domain     = "" # e.g. "api.example.com"
