"""Settings for the GPU cloud portal: one file, every input from the environment.

Every variable is listed with its default and meaning in README.md. Development
defaults apply only when DJANGO_DEBUG is on; production has no default for a secret.
"""

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

# Lets typed generics such as `admin.ModelAdmin[User]` work at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A developer's .env is read when present; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _required(name: str, *, dev_default: Any) -> Any:
    """A value that production must set explicitly and development may default."""
    if env.ENVIRON.get(name):
        return env.ENVIRON[name]
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"Set the {name} environment variable: it is required when DJANGO_DEBUG is off."
    )


# --- Core ---------------------------------------------------------------------------

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY: str = _required(
    "DJANGO_SECRET_KEY", dev_default="dev-only-insecure-secret-key-never-use-in-production"
)
ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [],
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Set the DJANGO_ALLOWED_HOSTS environment variable (comma-separated host names)."
    )
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    # third party
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_guid",
    "allauth",
    "allauth.account",
    "allauth.headless",
    # the portal
    "cloudportal",
    "accounts",
    "catalog",
    "billing",
    "deployments",
    "support",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "cloudportal.csp.ContentSecurityPolicyMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "cloudportal.api.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.LoginSessionMiddleware",
    "accounts.middleware.CustomerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cloudportal.urls"
WSGI_APPLICATION = "cloudportal.wsgi.application"
ASGI_APPLICATION = "cloudportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.email_verification",
                "billing.context_processors.wallet_balance",
                "deployments.context_processors.low_balance_banner",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------

# Unset DATABASE_URL means the zero-setup SQLite file; tests and production use PostgreSQL.
DATABASES = {
    "default": env.db_url_config(
        _required("DATABASE_URL", dev_default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
    )
}
if DATABASES["default"].get("ENGINE") not in {
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
}:
    raise ImproperlyConfigured(
        "DATABASE_URL is not a database URL: use postgres://user:password@host:5432/name."
    )
DATABASE_CONNECT_TIMEOUT: int = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share the file: WAL and immediate transactions avoid "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker and channel layer: one Redis -------------------------------------

REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cloudportal",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: a group message is published once and each web process fans it out to
        # its own sockets, over one Redis connection (the list-based layer opens one per
        # concurrent call and writes one copy per socket).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            # redis-py 8 times reads out after 5 s by default, exactly channels-redis's
            # blocking-pop wait: idle sockets would then crash. Give the reads room.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": "cloudportal:channels",
        },
    }
}

# --- Authentication -----------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "landing"
LOGOUT_REDIRECT_URL = "landing"
# Reset links are single use (the token embeds the password hash) and expire after this.
PASSWORD_RESET_TIMEOUT: int = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

# django-allauth: pages at /accounts/, the JSON (headless) API at /_allauth/.
# accounts/allauth.py explains how verification is enforced.
ACCOUNT_ADAPTER = "accounts.allauth.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[GPU Cloud] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# allauth's defaults, stated here because they are part of the product's promise.
ACCOUNT_RATE_LIMITS = {
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "reauthenticate": "10/m/user",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "confirm_email": "1/3m/key",
}
# Only the browser client (session cookie): the "app" client's X-Session-Token is not an
# /api/v1/ credential, so offering it would hand out tokens the API refuses (README, API).
HEADLESS_CLIENTS = ("browser",)
HEADLESS_SERVE_SPECIFICATION = True
HEADLESS_SPECIFICATION_TEMPLATE_NAME = None  # the stock page loads Redoc from a CDN

# --- Email --------------------------------------------------------------------------

# consolemail:// prints mail in the web process, so a developer can follow links.
EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default=_required("EMAIL_URL", dev_default="consolemail://")
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="GPU Cloud <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalization: UTC everywhere -------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by the app through ServeStatic, never a CDN) --------------
# ServeStatic is WhiteNoise made for ASGI: it streams files asynchronously, so uvicorn
# serves them without Django warning that a synchronous iterator is consumed.

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (support attachments) go through the "default" storage. MEDIA_URL is
# deliberately not routed: a file is served only by a view that checks who may read it.
MEDIA_ROOT: str = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Production serves the collected, hashed and compressed files (collectstatic).
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "servestatic.storage.CompressedManifestStaticFilesStorage"
    },
}
SERVESTATIC_USE_FINDERS = DEBUG
SERVESTATIC_AUTOREFRESH = DEBUG

# --- Security -----------------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SECURE_SSL_REDIRECT: bool = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS: int = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
)
SECURE_HSTS_PRELOAD: bool = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
# How many proxies in front of the portal append to X-Forwarded-For (cloudportal/client_ip.py);
# 0 reads the socket's address only, so a client cannot choose its own IP.
TRUSTED_PROXY_HOPS: int = env.int("TRUSTED_PROXY_HOPS", default=0)
if TRUSTED_PROXY_HOPS < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_HOPS is a number of proxies: 0 or more.")
# The same count for what reads the address itself: allauth's rate limits (sign-in
# failures per IP) and DRF's throttles (below, NUM_PROXIES).
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_HOPS
# Sent on every response (cloudportal/csp.py): code and data only from this server.
CONTENT_SECURITY_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",  # Redoc's search runs in a worker made from a blob
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Under /api/ and /_allauth/ a CSRF failure is a problem+json 403 like every other error.
CSRF_FAILURE_VIEW = "cloudportal.views.csrf_failure"
# Request bodies (JSON, and a form's non-file fields) larger than this answer 413. The API's
# bodies are small; attachments are files, limited by SUPPORT_ATTACHMENT_MAX_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- API: DRF and drf-spectacular ---------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cloudportal.api.authentication.SessionAuthentication",
        # `Authorization: Bearer cpk_…`; scopes per view in cloudportal/api/scopes.py.
        "accounts.api.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cloudportal.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "cloudportal.api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "cloudportal.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "cloudportal.api.problems.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "cloudportal.api.throttling.ApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="100/min"),
        "user": env.str("API_THROTTLE_USER", default="1000/min"),
        "api_key": env.str("API_THROTTLE_API_KEY", default="600/min"),
    },
    # Anonymous throttling keys on the client IP: read as cloudportal/client_ip.py reads it,
    # so a made-up X-Forwarded-For does not make a new client.
    "NUM_PROXIES": TRUSTED_PROXY_HOPS,
    "PAGE_SIZE": 50,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GPU Cloud Portal API",
    "DESCRIPTION": (
        "REST API of the GPU cloud portal. Errors are RFC 9457 `application/problem+json` "
        "with a stable `code`; lists use cursor pagination; every response carries "
        "`X-Request-ID`.\n\n"
        "Sign-up, login, logout, email verification, password reset and change are "
        "django-allauth's headless API under `/_allauth/browser/v1/`: see "
        "[its reference](/api/auth-docs/) ([OpenAPI JSON](/_allauth/openapi.json)).\n\n"
        "Live updates of deployments: the [WebSocket API](/api/websocket/) at `/ws/v1/`.\n\n"
        "Two ways in: the browser's session cookie (with CSRF), or an API key from the API "
        "keys page as `Authorization: Bearer cpk_…`; each operation names the key scope it "
        "needs, and the ones without the bearer scheme are for browser sessions only. "
        "A [Postman collection](/api/v1/postman.json) of every operation, with `baseUrl` and "
        "`apiKey` variables, is generated from this document."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The sidecar's bundle, served by cloudportal.views.redoc_bundle without its CDN logo.
    "REDOC_DIST": "/api/redoc",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {
        # cloudportal.ids.PUBLIC_ID_PATTERN (settings import no project code)
        "public_id": {"type": "string", "pattern": "^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$"}
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cloudportal.api.schema.add_problem_responses",
    ],
}

# --- Request ids (django-guid) ------------------------------------------------------

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,  # a client's id is kept only when it is a UUID: no log injection
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

# --- Celery -------------------------------------------------------------------------

CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2}
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_IGNORE_RESULT = True
# Tasks are idempotent, so a task whose worker died is delivered again rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Health -------------------------------------------------------------------------

# Each entry is "name": "dotted.path" to a function that raises when the dependency fails.
READINESS_CHECKS: dict[str, str] = {
    "database": "cloudportal.health.check_database",
    "redis": "cloudportal.health.check_redis",
    "broker": "cloudportal.health.check_broker",
}

# --- OpenStack (heat/) ----------------------------------------------------------------

# A standard clouds.yaml with the portal's clouds and regions; empty: no cloud configured.
OPENSTACK_CLOUDS_YAML: str = env.str("OPENSTACK_CLOUDS_YAML", default="")
OPENSTACK_API_TIMEOUT: float = env.float("OPENSTACK_API_TIMEOUT", default=30.0)
# Transient failures are retried with jittered exponential backoff within this many seconds.
OPENSTACK_RETRY_BUDGET: float = env.float("OPENSTACK_RETRY_BUDGET", default=20.0)
OPENSTACK_RETRY_BASE_DELAY: float = env.float("OPENSTACK_RETRY_BASE_DELAY", default=0.5)
OPENSTACK_RETRY_MAX_DELAY: float = env.float("OPENSTACK_RETRY_MAX_DELAY", default=8.0)
if OPENSTACK_CLOUDS_YAML:
    READINESS_CHECKS["openstack"] = "heat.health.check_regions"

# --- Deployments ----------------------------------------------------------------------

# Live (pending, provisioning, active) deployments one customer may have at once.
DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER: int = env.int("DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER", default=5)
# The portal's own deadline: Heat may leave a stack CREATE_IN_PROGRESS for ever.
DEPLOYMENTS_PROVISIONING_TIMEOUT: int = env.int("DEPLOYMENTS_PROVISIONING_TIMEOUT", default=1800)
# Heat's max_stacks_per_tenant for the portal's project (Heat does not publish it):
# `manage.py cloud_check` reports the project's stacks against it.
OPENSTACK_MAX_STACKS_PER_PROJECT: int = env.int("OPENSTACK_MAX_STACKS_PER_PROJECT", default=512)
# Every stack the portal makes carries this tag; the reconciler and orphan sweep list by it.
OPENSTACK_STACK_TAG: str = env.str("OPENSTACK_STACK_TAG", default="cloudportal")
# Stacks per page of the reconciler's and the orphan sweep's bulk list. Every page is an
# HTTP call: at 3,300 stacks a region, 1,000 a page costs 4 calls a cycle, 5,000 costs 1
# (bench/reconcile.py); a page of 5,000 summaries is about 3.5 MB of JSON. A Heat that caps
# the limit lower still pages correctly through its `next` links.
OPENSTACK_LIST_PAGE_SIZE: int = env.int("OPENSTACK_LIST_PAGE_SIZE", default=5000)
if OPENSTACK_LIST_PAGE_SIZE < 1:
    raise ImproperlyConfigured("OPENSTACK_LIST_PAGE_SIZE must be at least 1.")
# Heat calls a reconciler cycle makes at once for the deployments that changed (threads
# waiting on HTTP; the database work stays on the cycle's own thread, batched).
DEPLOYMENTS_RECONCILE_CONCURRENCY: int = env.int("DEPLOYMENTS_RECONCILE_CONCURRENCY", default=4)
if DEPLOYMENTS_RECONCILE_CONCURRENCY < 1:
    raise ImproperlyConfigured("DEPLOYMENTS_RECONCILE_CONCURRENCY must be at least 1.")
# The orphan sweep deletes a portal-tagged stack no deployment owns only once it is older
# than this (seconds): a create may have made it a moment before its deployment saved the id.
DEPLOYMENTS_ORPHAN_GRACE: int = env.int("DEPLOYMENTS_ORPHAN_GRACE", default=3600)
if DEPLOYMENTS_ORPHAN_GRACE < 0:
    raise ImproperlyConfigured("DEPLOYMENTS_ORPHAN_GRACE must not be negative.")
# Low balance: machines stopped because the wallet ran dry are deleted after this many
# hours with the balance still at or below zero (a warning email goes a day before).
DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS: int = env.int(
    "DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS", default=72
)
if DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS < 24:
    raise ImproperlyConfigured("DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS must be at least 24.")
# How long a process keeps its wallet-change marks (seconds) before one Redis round trip
# sends them all to the balance push and low-balance drain (deployments/wallet_reactions.py):
# what a push may lag behind a posting, for one round trip per many postings under load.
WALLET_REACTIONS_LINGER_SECONDS: float = env.float("WALLET_REACTIONS_LINGER_SECONDS", default=0.05)
if not 0 <= WALLET_REACTIONS_LINGER_SECONDS <= 5:
    raise ImproperlyConfigured("WALLET_REACTIONS_LINGER_SECONDS must be between 0 and 5.")
# The system disk: every machine boots from a volume of this size made from its image
# (it outlives the server across stop and start), billed as storage at this price per
# GB-month on top of any data volume. Read by the quote and by the stack a create renders.
SYSTEM_DISK_GB: int = env.int("SYSTEM_DISK_GB", default=100)
if not 1 <= SYSTEM_DISK_GB <= 16384:
    raise ImproperlyConfigured("SYSTEM_DISK_GB must be between 1 and 16384.")
try:
    SYSTEM_DISK_PRICE_PER_GB_MONTH: Decimal = Decimal(
        env.str("SYSTEM_DISK_PRICE_PER_GB_MONTH", default="0.10")
    )
except InvalidOperation:
    raise ImproperlyConfigured(
        "SYSTEM_DISK_PRICE_PER_GB_MONTH must be a decimal number, e.g. 0.10."
    ) from None
if not SYSTEM_DISK_PRICE_PER_GB_MONTH.is_finite() or SYSTEM_DISK_PRICE_PER_GB_MONTH < 0:
    raise ImproperlyConfigured("SYSTEM_DISK_PRICE_PER_GB_MONTH must not be negative.")

# --- Billing: invoices and receipts ---------------------------------------------------

# The seller printed on invoices, credit notes and receipts (a snapshot is kept on each).
BILLING_SELLER_NAME: str = env.str("BILLING_SELLER_NAME", default="GPU Cloud")
BILLING_SELLER_ADDRESS: str = env.str("BILLING_SELLER_ADDRESS", default="", multiline=True)
BILLING_SELLER_COUNTRY: str = env.str("BILLING_SELLER_COUNTRY", default="")
BILLING_SELLER_TAX_ID: str = env.str("BILLING_SELLER_TAX_ID", default="")
BILLING_SELLER_EMAIL: str = env.str("BILLING_SELLER_EMAIL", default="billing@localhost")
# How many past months the daily invoice run looks back for a month left uninvoiced
# (downtime on the 1st is caught up the next day; older activity is a staff matter).
BILLING_INVOICE_CATCH_UP_MONTHS: int = env.int("BILLING_INVOICE_CATCH_UP_MONTHS", default=12)
if BILLING_INVOICE_CATCH_UP_MONTHS < 1:
    raise ImproperlyConfigured("BILLING_INVOICE_CATCH_UP_MONTHS must be at least 1.")


# --- Payments (card top-ups through Stripe) -----------------------------------------

# A Stripe secret key (sk_test_… or sk_live_…). Development without one talks to devstripe
# (billing/devstripe, started by `make run`) at STRIPE_API_BASE with a dev key.
STRIPE_SECRET_KEY: str = _required("STRIPE_SECRET_KEY", dev_default="sk_test_devstripe")
# Empty: Stripe itself. devstripe's address in development and tests.
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="").rstrip("/")
# Webhook signing secrets (whsec_…), comma-separated: the current one and, while rotating,
# the previous one; a signature made with any of them is accepted.
STRIPE_WEBHOOK_SECRETS: list[str] = env.list(
    "STRIPE_WEBHOOK_SECRETS", default=["whsec_devstripe"] if DEBUG else []
)
if not DEBUG and not STRIPE_WEBHOOK_SECRETS:
    raise ImproperlyConfigured(
        "Set STRIPE_WEBHOOK_SECRETS: it is required when DJANGO_DEBUG is off."
    )
STRIPE_API_TIMEOUT: float = env.float("STRIPE_API_TIMEOUT", default=20.0)
# Signatures older than this, or this far in the future, are refused (seconds).
STRIPE_WEBHOOK_TOLERANCE: int = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# Top-up limits, in whole US dollars.
TOPUP_MIN_USD: int = env.int("TOPUP_MIN_USD", default=5)
TOPUP_MAX_USD: int = env.int("TOPUP_MAX_USD", default=5000)
if not 0 < TOPUP_MIN_USD <= TOPUP_MAX_USD:
    raise ImproperlyConfigured("Need 0 < TOPUP_MIN_USD <= TOPUP_MAX_USD.")
# The pull job re-reads top-ups still waiting after this many seconds.
TOPUP_PULL_AFTER: int = env.int("TOPUP_PULL_AFTER", default=300)

# Metering (deployments/metering.py): a 60-second window is billed once it has been closed
# this many seconds, so a status change committed a moment late still lands in it.
METERING_SETTLE_SECONDS: int = env.int("METERING_SETTLE_SECONDS", default=20)
if METERING_SETTLE_SECONDS < 0:
    raise ImproperlyConfigured("METERING_SETTLE_SECONDS must not be negative.")
# How often beat runs metering (seconds); a run with no closed window does nothing.
METERING_INTERVAL_SECONDS: int = env.int("METERING_INTERVAL_SECONDS", default=30)
if METERING_INTERVAL_SECONDS < 1:
    raise ImproperlyConfigured("METERING_INTERVAL_SECONDS must be at least 1.")
# Windows one metering transaction bills at most; after downtime, a run catches up batch
# after batch, each committed on its own.
METERING_BATCH_WINDOWS: int = env.int("METERING_BATCH_WINDOWS", default=15)
if METERING_BATCH_WINDOWS < 1:
    raise ImproperlyConfigured("METERING_BATCH_WINDOWS must be at least 1.")

# --- Support ----------------------------------------------------------------------

# The portal's own address, for links in emails (no request to take it from in a task).
PORTAL_BASE_URL: str = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Where new tickets and customers' replies are announced to staff.
SUPPORT_STAFF_EMAIL: str = env.str("SUPPORT_STAFF_EMAIL", default="support@localhost")
# A ticket waiting on the customer closes itself after this many days; the customer is
# told SUPPORT_AUTO_CLOSE_NOTICE_DAYS before (the close waits that long after the notice).
SUPPORT_AUTO_CLOSE_DAYS: int = env.int("SUPPORT_AUTO_CLOSE_DAYS", default=7)
SUPPORT_AUTO_CLOSE_NOTICE_DAYS: int = env.int("SUPPORT_AUTO_CLOSE_NOTICE_DAYS", default=2)
if not 0 < SUPPORT_AUTO_CLOSE_NOTICE_DAYS < SUPPORT_AUTO_CLOSE_DAYS:
    raise ImproperlyConfigured(
        "SUPPORT_AUTO_CLOSE_NOTICE_DAYS must be at least 1 and less than SUPPORT_AUTO_CLOSE_DAYS."
    )
# Attachments: size of one file, files per message, and the allowed types (checked
# against the file's content, see support/attachments.py for the types it knows).
SUPPORT_ATTACHMENT_MAX_BYTES: int = env.int(
    "SUPPORT_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024
)
SUPPORT_ATTACHMENTS_PER_MESSAGE: int = env.int("SUPPORT_ATTACHMENTS_PER_MESSAGE", default=5)
SUPPORT_ATTACHMENT_TYPES: list[str] = env.list(
    "SUPPORT_ATTACHMENT_TYPES",
    default=["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"],
)

# --- Logging ------------------------------------------------------------------------

LOG_LEVEL: str = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOG_FORMAT: str = env.str("DJANGO_LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("DJANGO_LOG_FORMAT must be 'text' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
        "celery_tracing": {"()": "django_guid.integrations.celery.log_filters.CeleryTracing"},
        # The reconciler runs every 3 s: Celery's received/succeeded lines for it are noise.
        "routine_tasks": {
            "()": "cloudportal.logging.RoutineTaskFilter",
            "tasks": ["deployments.reconcile"],
        },
    },
    "formatters": {
        "text": {"()": "cloudportal.logging.TextFormatter"},
        "json": {"()": "cloudportal.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "celery_tracing", "routine_tasks"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django installs its own console handler on "django"; one handler, the root's, is enough.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django_guid": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
        # uvicorn logs through the root handler so its lines carry the same format.
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        "uvicorn.access": {"handlers": [], "propagate": True},
    },
}
