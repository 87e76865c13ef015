"""Adapters at the edge: DynamoDB, EventBridge, Step Functions, Telegram, email, webhooks."""
