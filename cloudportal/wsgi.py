"""WSGI entry point, for management tools only: the portal is served over ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

application = get_wsgi_application()
