"""devstripe: a development stand-in for Stripe, as heat.devcloud is for OpenStack.

It speaks the subset of Stripe's HTTP API the portal calls (customers, Checkout Sessions,
PaymentIntents, refunds, disputes, events), serves a hosted checkout page where Stripe's
test cards behave as documented, and posts signed webhooks with retries and switchable
faults. It imports nothing of the portal and refuses to start unless DJANGO_DEBUG is on.
"""
