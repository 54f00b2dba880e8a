from django.urls import path

from accounts.api import views

urlpatterns = [
    path("account", views.AccountApi.as_view(), name="account"),
    path("account/sessions", views.LoginSessionListApi.as_view(), name="account-sessions"),
    path(
        "account/sessions/revoke-others",
        views.LoginSessionRevokeOthersApi.as_view(),
        name="account-sessions-revoke-others",
    ),
    path(
        "account/sessions/<public_id:session_id>",
        views.LoginSessionRevokeApi.as_view(),
        name="account-session",
    ),
    path("activity", views.ActivityListApi.as_view(), name="activity"),
    path("api-keys", views.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<public_id:api_key_id>", views.ApiKeyDetailApi.as_view(), name="api-key"),
    path("ssh-keys", views.SshKeyListCreateApi.as_view(), name="ssh-keys"),
    path("ssh-keys/<public_id:ssh_key_id>", views.SshKeyDetailApi.as_view(), name="ssh-key"),
]
