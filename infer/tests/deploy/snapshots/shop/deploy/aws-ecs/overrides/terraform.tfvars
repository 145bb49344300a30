# created by c4forge from shop.puml; this file is yours: c4forge creates it once and never overwrites it.
# Fill in and pass with: terraform apply -var-file=overrides/terraform.tfvars
account_id = "" # the AWS account to deploy into
region     = "" # e.g. "eu-west-1"
domain     = "" # e.g. "api.example.com"
# order_events_password: pass it with TF_VAR_order_events_password, never in this file.
orders_payment_provider_url = "" # URL of Payment Provider (e.g. https://payment-provider.example.invalid)
