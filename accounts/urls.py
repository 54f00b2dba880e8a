from django.urls import path, re_path

from accounts import views

app_name = "accounts"

urlpatterns = [
    # allauth's pages at allauth's addresses (they come first), extended: see the views.
    path("email/", views.EmailPage.as_view(), name="email"),
    re_path(
        r"^confirm-email/(?P<key>[-:\w]+)/$", views.EmailConfirmPage.as_view(), name="email-confirm"
    ),
    path("settings/", views.settings_page, name="settings"),
    path("ssh-keys/", views.ssh_keys_page, name="ssh-keys"),
    path(
        "ssh-keys/<public_id:ssh_key_id>/delete/", views.ssh_key_delete_page, name="ssh-key-delete"
    ),
    path("sessions/", views.sessions_page, name="sessions"),
    path("api-keys/", views.api_keys_page, name="api-keys"),
    path(
        "api-keys/<public_id:api_key_id>/revoke/",
        views.api_key_revoke_page,
        name="api-key-revoke",
    ),
    path("activity/", views.activity_page, name="activity"),
    path(
        "sessions/revoke-others/", views.sessions_revoke_others_page, name="sessions-revoke-others"
    ),
    path(
        "sessions/<public_id:session_id>/revoke/", views.session_revoke_page, name="session-revoke"
    ),
]
