from django.urls import path

from recording.library import api as library_api
from recording.library import views as library_views
from recording.uploads import views as upload_views
from recording.web import embed as embed_views
from recording.web import views

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("room/<str:channel>/", views.room, name="room"),
    path("api/tokens", views.api_tokens, name="api-tokens"),
    path("api/tokens/revoke", views.api_token_revoke, name="api-token-revoke"),
    # a call inside another site's iframe (recording/web/embed.py, README "Embedding")
    path("embed/", embed_views.embed_page, name="embed"),
    path("embed/embed.js", embed_views.embed_helper, name="embed-helper"),
    # tus uploads and the recordings library (recording/uploads/views.py, recording/library/)
    path("api/uploads/", upload_views.uploads_collection, name="uploads"),
    path("api/uploads/<str:upload_id>", upload_views.uploads_resource, name="upload"),
    path("api/recordings", library_api.api_recordings, name="api-recordings"),
    path("api/recordings/<str:recording_id>", library_api.api_recording, name="api-recording"),
    path("api/recordings/<str:recording_id>/links", library_api.api_recording_links, name="api-recording-links"),
    path(
        "api/recordings/<str:recording_id>/transcode",
        library_api.api_recording_transcode,
        name="api-recording-transcode",
    ),
    path("recordings/file/<str:signed>", library_views.recording_file, name="recording-file"),
    path("recordings/timeline/<str:signed>", library_views.recording_timeline_json, name="recording-timeline"),
    path("recordings/<str:channel>/", library_views.recording_list, name="recording-list"),
    path("recordings/<str:channel>/<str:recording_id>/", library_views.recording_detail, name="recording-detail"),
    path(
        "recordings/<str:channel>/<str:recording_id>/delete",
        library_views.recording_delete_page,
        name="recording-delete",
    ),
]
