"""The app's models, one module per concern; Django finds them all through this package."""

from recording.models.jobs import Job
from recording.models.library import Recording, TranscodeRequest
from recording.models.live import CallbackDelivery, LiveFile, LiveSession
from recording.models.rooms import Member, RecordAnnouncement, RecordConsent, RecordNotice, Room, RoomEvent
from recording.models.tokens import RevokedToken
from recording.models.uploads import Upload

__all__ = [
    "CallbackDelivery",
    "Job",
    "LiveFile",
    "LiveSession",
    "Member",
    "RecordAnnouncement",
    "RecordConsent",
    "RecordNotice",
    "Recording",
    "RevokedToken",
    "Room",
    "RoomEvent",
    "TranscodeRequest",
    "Upload",
]
