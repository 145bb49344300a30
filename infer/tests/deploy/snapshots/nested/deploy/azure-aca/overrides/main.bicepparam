// created by c4forge from nested.puml; this file is yours: c4forge creates it once and never overwrites it.
// Fill in, then: az deployment group create -g <group> -f ../main.bicep -p main.bicepparam
// Secure values (passwords, secret URLs) come from the environment, never from this file.
using '../main.bicep'

param domain = ''
