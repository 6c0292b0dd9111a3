"""engine: a Flock-style blackboard runtime whose agents all stream at once."""
