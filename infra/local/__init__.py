"""The local runner: OnCall Hub on one machine, no Docker, no AWS account (``make run``)."""
