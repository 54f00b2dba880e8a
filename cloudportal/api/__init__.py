"""API conventions shared by every app: errors, authentication, pagination, schema."""
