"""Admin for rooms, members and recording notices."""

from django.contrib import admin

from recording.models import Member, RecordNotice, Room


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    readonly_fields = ["account", "session", "role", "audio", "video", "joined_at", "last_seen"]
    exclude = ["channel_name"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MemberInline]


@admin.register(RecordNotice)
class RecordNoticeAdmin(admin.ModelAdmin):
    list_display = ["room", "recorder", "target", "kind", "started_at"]
