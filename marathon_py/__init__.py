"""A Marathon-compatible framework: long-running apps from JSON definitions (REST API v2)."""
