"""Response shapes, for the OpenAPI description only: handlers build plain JSON responses
(validating our own output on every delivery would cost the hot path for nothing)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bot.service.durability import Verdict


class Error(BaseModel):
    status: Literal["error"] = "error"
    detail: str = Field(description="what is wrong, naming the header, parameter or field")


class WebhookAnswer(BaseModel):
    status: Literal["queued", "spooled", "duplicate", "ignored"]
    job: str | None = Field(default=None, description="the job kind, when queued or spooled")
    delivery_id: str | None = None
    reason: str | None = Field(default=None, description="why no job is needed, when ignored")


class InProgress(BaseModel):
    status: Literal["in_progress"] = "in_progress"
    detail: str


class FindingsAnswer(BaseModel):
    status: Literal["queued", "spooled", "duplicate"]
    submission_id: str = Field(description="the Idempotency-Key's or the document's id; also the job's id")
    findings: int = Field(description="findings accepted")
    problems: list[str] = Field(description="entries skipped, each naming the entry and field")


class FindingsEmpty(BaseModel):
    status: Literal["empty"] = "empty"
    findings: Literal[0] = 0
    problems: list[str] = Field(default_factory=list)


class FindingsRejected(BaseModel):
    status: Literal["error"] = "error"
    detail: str
    problems: list[str]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready", "unavailable"]
    redis: Literal["ok", "unreachable"]
    broker: Verdict = Field(description="what the receiver knows of the broker's durability")
