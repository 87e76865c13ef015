"""Pure domain: entities, value objects and rules. Takes ``now`` as an argument, never reads a clock, does no I/O."""
