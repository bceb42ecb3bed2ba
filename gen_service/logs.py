"""Logging set-up: plain text for people, JSON lines for log pipelines.

JSON lines carry the record's `extra` fields (job_id, lease_id, worker_id, ...) as top-level keys, so
logs can be joined with the database by id. Secrets never reach a log call: tokens are compared as
digests and teacher API keys live in SecretStr.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from gen_service.serialization import dumps_str

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return dumps_str(payload)


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("tracegen")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
