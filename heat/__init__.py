"""OpenStack adapter: HOT template library, rendering and validation, the Heat client, devcloud."""
