"""Pipeline configuration: YAML with line numbers, layering, overrides and strict schemas."""
