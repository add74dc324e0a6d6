"""The releases' and rollouts' bodies and replies in the admin API (docs/releases.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cabinetcloud.admin.models import Ident


class ReleaseOut(BaseModel):
    id: int
    package: str
    version: str = Field(description="the Debian version, read from the package's control file")
    architecture: str
    sha256: str
    size: int
    signature: str = Field(description="base64 of the detached ed25519 signature over the package")
    uploaded_by: str
    uploaded_at: datetime


class RolloutIn(BaseModel):
    """One of: `store` (its enrolled cabinets), `cabinets` (these), or `percent` (that share of the
    fleet, or of `store` when both are given)."""

    model_config = ConfigDict(extra="forbid")

    store: Ident | None = None
    cabinets: Annotated[list[Ident], Field(min_length=1, max_length=1000)] | None = None
    percent: Annotated[int, Field(ge=1, le=100)] | None = None
    allow_downgrade: bool = Field(default=False, description="offer it to cabinets running a newer version too")
    expires_in_days: Annotated[int, Field(ge=1, le=30)] = Field(default=7, description="how long each offer stands")

    @model_validator(mode="after")
    def _one_target(self) -> RolloutIn:
        if self.cabinets is not None and (self.store is not None or self.percent is not None):
            raise ValueError("cabinets is a target of its own: give it without store or percent")
        if self.cabinets is None and self.store is None and self.percent is None:
            raise ValueError("give a target: store, cabinets, or percent (of the fleet, or of store)")
        return self

    @property
    def kind(self) -> Literal["store", "cabinets", "share"]:
        if self.cabinets is not None:
            return "cabinets"
        return "share" if self.percent is not None else "store"


class RolloutOut(BaseModel):
    id: int
    release_id: int
    target: str = Field(description="store, cabinets or share")
    store: str | None
    percent: int | None
    allow_downgrade: bool
    created_by: str
    created_at: datetime
    expires_at: datetime


class CabinetProgress(BaseModel):
    cabinet: str
    store: str
    software_version: str | None = Field(description="what the cabinet reported at its last session")
    state: str = Field(
        description="current, queued, delivered, offered, downloaded, installing, installed, refused, "
        "rolled_back, expired or failed"
    )
    reason: str | None = Field(description="why it was refused or rolled back (or the failed command's detail)")
    at: datetime | None = Field(description="when the cabinet recorded its last update_* event for this release")
    command_id: str | None


class RolloutProgress(RolloutOut):
    release: ReleaseOut
    counts: dict[str, int]
    cabinets: list[CabinetProgress]
