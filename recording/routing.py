from django.urls import path

from recording.signalling.consumers import NetcallConsumer

websocket_urlpatterns = [path("ws/netcall/", NetcallConsumer.as_asgi())]
