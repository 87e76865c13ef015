"""HTTP plumbing shared by the functions behind API Gateway: the error envelope, request guards, idempotency, ETags."""
