"""Every write to accounts data goes through a function here."""

import logging

from django.contrib.sessions.models import Session
from django.utils import timezone

logger = logging.getLogger(__name__)


def sessions_clear_expired() -> int:
    """Delete expired login sessions; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("sessions.cleared_expired", extra={"count": deleted})
    return deleted
