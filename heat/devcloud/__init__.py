"""devcloud: a local Keystone v3 + Heat v1 that speaks the real wire (stdlib HTTP only).

It shares nothing with the portal but the wire: it imports no portal module, so it runs
as its own process (`python -m heat.devcloud`) or in a test's thread.
"""
