from django.urls import path

from recording import views

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("room/<str:channel>/", views.room, name="room"),
    path("api/tokens", views.api_tokens, name="api-tokens"),
]
