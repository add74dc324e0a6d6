"""The admin API's bodies and replies. Bodies forbid unknown fields, so a typo is a 422 naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cabinetcloud.operators import Operator, Role

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OperatorOut(BaseModel):
    name: str
    role: Role
    stores: list[str]
    active: bool
    has_password: bool

    @classmethod
    def of(cls, operator: Operator) -> OperatorOut:
        return cls.model_validate(operator.view())


class OperatorIn(Body):
    name: Ident
    role: Role
    stores: Annotated[list[Ident], Field(max_length=100)] = []
    password: Password | None = None


class OperatorPatch(Body):
    role: Role | None = None
    stores: Annotated[list[Ident], Field(max_length=100)] | None = None
    active: bool | None = None


class PasswordIn(Body):
    password: Password


class TokenIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=64)] = "api"


class TokenOut(BaseModel):
    id: int
    operator: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(BaseModel):
    """An API token as issued: `secret` is shown this once and never again."""

    token: TokenOut
    secret: str


class StoreOut(BaseModel):
    id: str
    name: str
    cabinets: int


class StoreIn(Body):
    id: Ident
    name: Name


class StorePatch(Body):
    name: Name


class SyncHealth(BaseModel):
    """What the cloud knows of a cabinet's sync, as of its last session (the only contact it counts).
    `pending_events`: what the cabinet's ledger held then beyond what the cloud has acknowledged of that
    epoch since; null before its first session."""

    last_session_at: datetime | None
    software_version: str | None
    protocol_version: int | None
    schema_version: int | None
    clock_skew_s: float | None
    clock_skew_flagged: bool
    events_held: int
    pending_events: int | None
    epochs: int
    fork_detected_at: datetime | None


class CabinetOut(BaseModel):
    id: str
    store: str
    enrolled: bool
    token_issued_at: datetime | None
    revoked_at: datetime | None
    sync: SyncHealth


class CabinetIn(Body):
    id: Ident
    store: Ident


class IssuedCabinetToken(BaseModel):
    """A cabinet's token as issued: shown this once; put it in the cabinet's token file (0600)."""

    cabinet: CabinetOut
    token: str


class AuditEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    via: str
    action: str
    resource: str
    resource_id: str
    before: Any
    after: Any


class AuditPage(BaseModel):
    events: list[AuditEvent]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")
