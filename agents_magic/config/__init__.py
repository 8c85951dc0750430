"""The workflow dialect: parsing with a source map, the pydantic schema and validation."""
