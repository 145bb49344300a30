// created by c4forge from shop.puml; this file is yours: c4forge creates it once and never overwrites it.
// Fill in, then: az deployment group create -g <group> -f ../main.bicep -p main.bicepparam
// Secure values (passwords, secret URLs) come from the environment, never from this file.
using '../main.bicep'

param domain = ''
param orders_databaseAdminPassword = readEnvironmentVariable('ORDERS_DATABASE_ADMIN_PASSWORD')
param order_eventsPassword = readEnvironmentVariable('ORDER_EVENTS_PASSWORD')
param orders_payment_provider_url = '' // e.g. https://payment-provider.example.invalid
