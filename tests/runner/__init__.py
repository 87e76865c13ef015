"""The local runner's parts tested on their own: the emulator (DynamoDB atomicity and windows, streams, rule
targets, the clock, hooks, persistence), the event bus and scheduler stand-ins, and the worker pools. The runner as a
whole, through its HTTP gateway, is tested in ``tests/e2e``."""
