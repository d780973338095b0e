"""Django settings for netcall. Every value that varies between deployments is read from the environment
(see README "Settings"); the defaults are the embedded single-process setup of `make run`."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from netcall_site.env import env_bool, env_float, env_int, env_json, env_list, env_str
from netcall_site.secret import secret_from_file

BASE_DIR = Path(__file__).resolve().parent.parent
# A checkout has templates/ and static/ at its top; an installed netcall (`pip install`, setup.py) has them
# inside this package, and keeps its run-time files under ./var of wherever it runs unless told otherwise.
_INSTALLED = (Path(__file__).resolve().parent / "templates").is_dir()
PACKAGE_DATA_DIR = Path(__file__).resolve().parent if _INSTALLED else BASE_DIR
VAR_DIR = Path(env_str("NETCALL_VAR_DIR", str(Path.cwd() / "var" if _INSTALLED else BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# NETCALL_SECRET_KEY, or a random key made once per install under var/ (netcall_site/secret.py). A key that
# can be neither is reported by `manage.py check` (recording.checks) and refused by netcall_site.asgi at
# start-up; the placeholder only keeps management commands able to say so.
MISSING_SECRET_KEY = "netcall-secret-key-is-not-set"
NETCALL_SECRET_KEY_FILE = Path(env_str("NETCALL_SECRET_KEY_FILE", str(VAR_DIR / "secret_key")))
SECRET_KEY_FROM_FILE = not env_str("NETCALL_SECRET_KEY")
SECRET_KEY = env_str("NETCALL_SECRET_KEY") or secret_from_file(NETCALL_SECRET_KEY_FILE) or MISSING_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Origins besides this service's own (scheme, host and port exactly) whose pages may open the WebSocket.
NETCALL_WS_ORIGINS = env_list("NETCALL_WS_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "recording",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # framing headers: embed page for NETCALL_EMBED_ORIGINS, frame-ancestors 'none' elsewhere (before XFO)
    "recording.web.security_headers.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "netcall_site.urls"
ASGI_APPLICATION = "netcall_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DATA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded SQLite database keeps its journal in WAL mode: a commit appends to the -wal file and, with
# synchronous=FULL, syncs that file only (the rollback journal synced the journal and the database file on
# every commit), and readers never wait for a writer. Durable all the same. NORMAL (opt-in, README) does not
# sync at commit: a power cut may lose the last commits, never corrupt the file.
SQLITE_SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")
NETCALL_SQLITE_SYNCHRONOUS = env_str("NETCALL_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
_synchronous = NETCALL_SQLITE_SYNCHRONOUS if NETCALL_SQLITE_SYNCHRONOUS in SQLITE_SYNCHRONOUS_LEVELS else "FULL"

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("NETCALL_DB_PATH", str(VAR_DIR / "netcall.sqlite3")),
            # Signalling writes room state from many coroutines; wait for the lock instead of failing.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={_synchronous}",
            },
            "TEST": {"NAME": env_str("NETCALL_TEST_DB_PATH", str(VAR_DIR / "test.sqlite3"))},
        }
    }

_redis_url = env_str("REDIS_URL")
if _redis_url:
    CHANNEL_LAYERS = {
        "default": {
            # Members' traffic over Redis pub/sub, the recorder's channels as Redis queues (the module says why).
            "BACKEND": "recording.signalling.redis_layer.SplitRedisChannelLayer",
            # The prefix lets several deployments (or test runs) share one Redis. The socket timeout must
            # outlast channels_redis's 5 s blocking receive (BZPOPMIN): redis-py 8 defaults it to 5 s, and
            # a receive that times out at the same moment as the server answers kills the consumer.
            "CONFIG": {
                "hosts": [{"address": _redis_url, "socket_timeout": 30, "socket_connect_timeout": 5}],
                "prefix": env_str("NETCALL_REDIS_PREFIX", "netcall"),
                "durable_prefixes": ["netcall-recorder"],  # recording.live.services.RECORDER_CHANNEL and its sessions'
            },
        }
    }
else:
    # Channels' in-memory layer without its walk over every channel per message (recording/signalling/layer.py)
    CHANNEL_LAYERS = {"default": {"BACKEND": "recording.signalling.layer.LocalChannelLayer"}}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [PACKAGE_DATA_DIR / "static"]
STATIC_ROOT = Path(env_str("NETCALL_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("NETCALL_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"recording": {"handlers": ["console"], "level": env_str("NETCALL_LOG_LEVEL", "INFO")}},
}

# --- netcall ---------------------------------------------------------------------------------------
NETCALL_API_KEY = env_str("NETCALL_API_KEY")
NETCALL_GUEST_MODE = env_bool("NETCALL_GUEST_MODE", DEBUG)
NETCALL_TOKEN_TTL = env_int("NETCALL_TOKEN_TTL", 6 * 3600)
NETCALL_ROOM_CAPACITY = env_int("NETCALL_ROOM_CAPACITY", 16)
NETCALL_MAX_MESSAGE_BYTES = env_int("NETCALL_MAX_MESSAGE_BYTES", 64 * 1024)
NETCALL_MAX_MESSAGES_PER_SECOND = env_int("NETCALL_MAX_MESSAGES_PER_SECOND", 200)
# Largest HTTP request body anywhere but the tus uploads (413 `body_too_large` above, before it is read).
NETCALL_MAX_REQUEST_BODY_BYTES = env_int("NETCALL_MAX_REQUEST_BODY_BYTES", 1024 * 1024)
NETCALL_MEMBER_TIMEOUT = env_int("NETCALL_MEMBER_TIMEOUT", 45)
# Each process writes its members' liveness in one statement, and expires silent members, this often (seconds).
NETCALL_LIVENESS_INTERVAL = env_float("NETCALL_LIVENESS_INTERVAL", 5.0)
# Abusive sockets (docs/protocol.md, "Limits"): each limit is per connection unless it says otherwise.
NETCALL_JOIN_DEADLINE_SECONDS = env_float("NETCALL_JOIN_DEADLINE_SECONDS", 10.0)
NETCALL_RATE_LIMIT_STRIKES = env_int("NETCALL_RATE_LIMIT_STRIKES", 50)
NETCALL_RATE_LIMIT_STRIKE_SECONDS = env_float("NETCALL_RATE_LIMIT_STRIKE_SECONDS", 10.0)
NETCALL_SIGNAL_BYTES_PER_SECOND = env_int("NETCALL_SIGNAL_BYTES_PER_SECOND", 256 * 1024)
NETCALL_MAX_CONNECTIONS_PER_ADDRESS = env_int("NETCALL_MAX_CONNECTIONS_PER_ADDRESS", 50)
NETCALL_MAX_CONNECTIONS_PER_TOKEN = env_int("NETCALL_MAX_CONNECTIONS_PER_TOKEN", 10)
NETCALL_ICE_SERVERS = env_json("NETCALL_ICE_SERVERS", [])
NETCALL_SERVE_STATIC = env_bool("NETCALL_SERVE_STATIC", True)
# Origins (exact, e.g. https://app.example.com) whose pages may frame /embed/ (recording/security_headers.py)
NETCALL_EMBED_ORIGINS = env_list("NETCALL_EMBED_ORIGINS", [])

# --- uploads (tus) and finishing (recording/uploads.py, recording/finishing.py) ----------------------
NETCALL_UPLOAD_MAX_SIZE = env_int("NETCALL_UPLOAD_MAX_SIZE", 8 * 1024**3)
NETCALL_UPLOAD_STAGING_DIR = Path(env_str("NETCALL_UPLOAD_STAGING_DIR", str(VAR_DIR / "uploads")))
NETCALL_UPLOAD_IDLE_SECONDS = env_int("NETCALL_UPLOAD_IDLE_SECONDS", 120)
NETCALL_UPLOAD_EXPIRY_SECONDS = env_int("NETCALL_UPLOAD_EXPIRY_SECONDS", 7 * 24 * 3600)
NETCALL_UPLOAD_LOCK_SECONDS = env_int("NETCALL_UPLOAD_LOCK_SECONDS", 60)
NETCALL_UPLOAD_CORS_ORIGINS = env_list("NETCALL_UPLOAD_CORS_ORIGINS", [])
NETCALL_TRANSCODE = env_bool("NETCALL_TRANSCODE", False)
# Quotas (README "Settings"): open uploads, bytes kept per channel, transcodes asked for per hour.
NETCALL_UPLOAD_MAX_OPEN_PER_ACCOUNT = env_int("NETCALL_UPLOAD_MAX_OPEN_PER_ACCOUNT", 8)
NETCALL_UPLOAD_MAX_OPEN_PER_CHANNEL = env_int("NETCALL_UPLOAD_MAX_OPEN_PER_CHANNEL", 64)
NETCALL_CHANNEL_MAX_BYTES = env_int("NETCALL_CHANNEL_MAX_BYTES", 50 * 1024**3)
NETCALL_TRANSCODE_PER_HOUR = env_int("NETCALL_TRANSCODE_PER_HOUR", 10)

# --- recordings library: storage, signed downloads, jobs, retention (recording/storage.py, jobs.py) -----
# Files go through Django's storage API: the filesystem under NETCALL_MEDIA_ROOT by default; any storage
# backend (e.g. django-storages' S3 backend) by NETCALL_STORAGE_BACKEND and NETCALL_STORAGE_OPTIONS (JSON).
MEDIA_ROOT = Path(env_str("NETCALL_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: downloads go through signed links
STORAGES = {
    "default": {
        "BACKEND": env_str("NETCALL_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env_json("NETCALL_STORAGE_OPTIONS", {}),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
NETCALL_DOWNLOAD_URL_TTL = env_int("NETCALL_DOWNLOAD_URL_TTL", 24 * 3600)
NETCALL_RETENTION_DAYS = env_int("NETCALL_RETENTION_DAYS", 0)
# Consent to being recorded (README: Consent): "ask" makes every member be asked unless it joins with
# recordConsent: 'allow'; NETCALL_RECORD_CONSENT_CHANNELS makes "ask" the default in those channels only.
NETCALL_RECORD_CONSENT = env_str("NETCALL_RECORD_CONSENT", "allow")
NETCALL_RECORD_CONSENT_CHANNELS = env_list("NETCALL_RECORD_CONSENT_CHANNELS", [])
NETCALL_JOBS_IN_PROCESS = env_bool("NETCALL_JOBS_IN_PROCESS", True)
NETCALL_JOBS_POLL_SECONDS = env_int("NETCALL_JOBS_POLL_SECONDS", 1)

# --- live broadcasting, server recording and the callback (docs/live.md) ----------------------------
# The recorder worker: in this process by default; `manage.py runworker netcall-recorder` elsewhere.
NETCALL_RECORDER_IN_PROCESS = env_bool("NETCALL_RECORDER_IN_PROCESS", True)
NETCALL_LIVE_MAX_SECONDS = env_int("NETCALL_LIVE_MAX_SECONDS", 4 * 3600)
NETCALL_LIVE_MAX_SESSIONS_PER_ACCOUNT = env_int("NETCALL_LIVE_MAX_SESSIONS_PER_ACCOUNT", 1)
NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS = env_int("NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS", 4)
NETCALL_LIVE_WIDTH = env_int("NETCALL_LIVE_WIDTH", 640)
NETCALL_LIVE_HEIGHT = env_int("NETCALL_LIVE_HEIGHT", 360)
NETCALL_LIVE_FPS = env_int("NETCALL_LIVE_FPS", 15)
NETCALL_LIVE_VIDEO_BITRATE = env_int("NETCALL_LIVE_VIDEO_BITRATE", 1_000_000)
NETCALL_LIVE_AUDIO_BITRATE = env_int("NETCALL_LIVE_AUDIO_BITRATE", 96_000)
NETCALL_LIVE_X264_PRESET = env_str("NETCALL_LIVE_X264_PRESET", "veryfast")
NETCALL_LIVE_SPOOL_DIR = Path(env_str("NETCALL_LIVE_SPOOL_DIR", str(VAR_DIR / "live")))
NETCALL_LIVE_HEARTBEAT_SECONDS = env_int("NETCALL_LIVE_HEARTBEAT_SECONDS", 5)
NETCALL_LIVE_STALE_SECONDS = env_int("NETCALL_LIVE_STALE_SECONDS", 30)
# A member file whose media stopped this long before the session (or the member) ended says so
NETCALL_LIVE_MEDIA_TIMEOUT_SECONDS = env_float("NETCALL_LIVE_MEDIA_TIMEOUT_SECONDS", 5.0)
NETCALL_LIVE_RTMP_ALLOWED_HOSTS = env_list("NETCALL_LIVE_RTMP_ALLOWED_HOSTS", [])
NETCALL_LIVE_RTMP_RETRY_MAX_SECONDS = env_int("NETCALL_LIVE_RTMP_RETRY_MAX_SECONDS", 30)
NETCALL_LIVE_RTMP_STALL_SECONDS = env_int("NETCALL_LIVE_RTMP_STALL_SECONDS", 10)
NETCALL_LIVE_RTMP_GIVE_UP_SECONDS = env_int("NETCALL_LIVE_RTMP_GIVE_UP_SECONDS", 0)
NETCALL_PUBLIC_URL = env_str("NETCALL_PUBLIC_URL", "").rstrip("/")
NETCALL_CALLBACK_URL = env_str("NETCALL_CALLBACK_URL")
NETCALL_CALLBACK_SECRET = env_str("NETCALL_CALLBACK_SECRET")
NETCALL_CALLBACK_DEADLINE_SECONDS = env_int("NETCALL_CALLBACK_DEADLINE_SECONDS", 3 * 24 * 3600)
NETCALL_CALLBACK_RETRY_BASE_SECONDS = env_int("NETCALL_CALLBACK_RETRY_BASE_SECONDS", 10)
NETCALL_CALLBACK_RETRY_MAX_SECONDS = env_int("NETCALL_CALLBACK_RETRY_MAX_SECONDS", 3600)
NETCALL_CALLBACK_TIMEOUT_SECONDS = env_int("NETCALL_CALLBACK_TIMEOUT_SECONDS", 10)
NETCALL_CALLBACK_URL_TTL = env_int("NETCALL_CALLBACK_URL_TTL", 7 * 24 * 3600)

# --- HTTPS deployment (README "Deployment past one machine"); off for the embedded default ----------
SECURE_SSL_REDIRECT = env_bool("NETCALL_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("NETCALL_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("NETCALL_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("NETCALL_HSTS_PRELOAD", False)
if env_bool("NETCALL_BEHIND_TLS_PROXY", False):
    # The proxy terminates TLS and says so in X-Forwarded-Proto; only trust it when told to.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
