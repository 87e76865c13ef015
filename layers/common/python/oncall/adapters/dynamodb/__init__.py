"""DynamoDB adapters: pynamodb models (with their access patterns) and the repositories services depend on."""
