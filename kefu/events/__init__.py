"""Events: the append-only record (``emit``) and the bus that carries them to live consumers."""
