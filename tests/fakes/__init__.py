"""Real stand-ins for external services the tests cannot reach (they speak the real protocol)."""
