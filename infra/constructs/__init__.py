"""One construct per capability kind; each builds its part of the stack from the topology, nothing more."""
