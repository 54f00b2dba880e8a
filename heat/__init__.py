"""OpenStack adapter: HOT templates and rendering, typed Heat calls (openstacksdk), devcloud."""
