from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tasks import sessions_clear_expired_task

pytestmark = pytest.mark.django_db


def test_clearing_sessions_removes_only_expired_ones():
    now = timezone.now()
    Session.objects.create(session_key="expired", session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="current", session_data="", expire_date=now + timedelta(1))

    removed = sessions_clear_expired_task()

    assert removed == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["current"]
