"""CDK stacks. One today: everything OnCall Hub runs, built from a ``Topology``."""
