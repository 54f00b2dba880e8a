"""OpenStack adapter: typed Heat calls through openstacksdk, and devcloud, a local cloud."""
