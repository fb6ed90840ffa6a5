"""Spec files: loading, validating and locating problems in architecture and scenario YAML."""
