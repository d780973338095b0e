"""ASGI entry point: HTTP through Django, WebSockets through Channels (tutorial order).

Served by uvicorn (`python -m netcall_site.serve`, see that module). `/api/uploads/` goes to the streaming
uploads application before Django's handler, which would read each body whole first; every other HTTP
request has its body capped (NETCALL_MAX_REQUEST_BODY_BYTES) before Django reads it."""

import os
from typing import Any

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
from recording.uploads.streaming import Receive, Scope, Send, UploadsApplication  # noqa: E402
from recording.web.body_limit import RequestBodyLimit  # noqa: E402
from recording.web.origins import ExactOriginValidator  # noqa: E402

if settings.SECRET_KEY == settings.MISSING_SECRET_KEY:
    raise ImproperlyConfigured("NETCALL_SECRET_KEY is not set: refusing to serve with a known signing key.")

# One process serves the SDK's static files itself (embedded default); behind a proxy, let it serve them.
django_app: Any = ASGIStaticFilesHandler(django_asgi_app) if settings.NETCALL_SERVE_STATIC else django_asgi_app
django_http_app = RequestBodyLimit(django_app)
uploads_app = UploadsApplication()


async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """tus uploads stream (recording/uploads/streaming.py); everything else through Django, body capped."""
    app = uploads_app if uploads_app.handles(scope) else django_http_app
    await app(scope, receive, send)


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
