"""The emulated deploy: the synthesized stack created in moto's CloudFormation (with the shim that completes what
moto skips) and the deployed account inspected through boto3. docs/architecture.md, "The emulated deploy"."""
