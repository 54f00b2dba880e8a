import os
import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEV_SUPERUSER_EMAIL = "admin@localhost"


class Command(BaseCommand):
    help = "Development only: create the superuser admin@localhost once and print its login."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("Refusing to create a development superuser with DJANGO_DEBUG off.")
        credentials_file = settings.VAR_DIR / "dev-superuser.txt"
        user_model = get_user_model()
        user = user_model.objects.filter(email=DEV_SUPERUSER_EMAIL).first()
        if user is None or not credentials_file.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user_model.objects.create_superuser(DEV_SUPERUSER_EMAIL, password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            credentials_file.write_text(password)
        # Staff can try every customer feature, which needs a verified address.
        EmailAddress.objects.update_or_create(
            email=DEV_SUPERUSER_EMAIL,
            defaults={
                "user": user_model.objects.get(email=DEV_SUPERUSER_EMAIL),
                "verified": True,
                "primary": True,
            },
        )
        password = credentials_file.read_text().strip()
        self.stdout.write(
            self.style.SUCCESS(
                f"Development superuser: {DEV_SUPERUSER_EMAIL} / {password} "
                f"(admin at http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/admin/)"
            )
        )
