"""ASGI entry point: HTTP through Django, WebSockets through Channels (tutorial order)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcall_site.settings")
# Initialise Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from recording.jobs.queue import start_in_process_worker  # noqa: E402
from recording.live.services import RECORDER_CHANNEL  # noqa: E402
from recording.live.worker import RecorderConsumer  # noqa: E402
from recording.routing import websocket_urlpatterns  # noqa: E402
from recording.web.origins import ExactOriginValidator  # noqa: E402

if settings.SECRET_KEY == settings.MISSING_SECRET_KEY:
    raise ImproperlyConfigured("NETCALL_SECRET_KEY is not set: refusing to serve with a known signing key.")

# One process serves the SDK's static files itself (embedded default); behind a proxy, let it serve them.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.NETCALL_SERVE_STATIC else django_asgi_app

# Durable jobs (finishing recordings, upload upkeep) run in this process unless NETCALL_JOBS_IN_PROCESS=0.
start_in_process_worker()

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": ExactOriginValidator(URLRouter(websocket_urlpatterns)),
        # Live recorder workers: `manage.py runworker netcall-recorder` (recording/recorder_dispatch.py).
        "channel": ChannelNameRouter({RECORDER_CHANNEL: RecorderConsumer.as_asgi()}),
    }
)
