"""Environment for a subprocess that must use the same (test) database as this pytest process."""

from __future__ import annotations

from django.conf import settings


def database_env() -> dict[str, str]:
    database = settings.DATABASES["default"]
    if "postgresql" in database["ENGINE"]:
        user = database.get("USER") or "postgres"
        password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
        host = database.get("HOST") or "127.0.0.1"
        port = database.get("PORT") or 5432
        return {"DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"}
    return {"NETCALL_DB_PATH": str(database["NAME"]), "DATABASE_URL": ""}
