"""What the fleet data's routers (staff, work types, device models, devices) share: a change merged
into the entry it changes and checked as a whole, the checks' problems as one refusal, and the ids a
caller may refer to (a store-manager: only their stores)."""

from __future__ import annotations

from typing import Any, Final, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection

from cabinetcloud.admin.access import Principal
from cabinetcloud.fleetcheck import Known, Problem
from cabinetcloud.fleetdata import Entry
from cabinetcloud.operators import Role
from cabinetcloud.replies import Refusal, validation_detail

CODES: Final = {404: "not_found", 409: "conflict", 422: "invalid"}

E = TypeVar("E", bound=Entry)


def refuse(problems: list[Problem]) -> None:
    """The first problem as the refusal (the place named as `body.<key>`), the count of the others."""
    if not problems:
        return
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise Refusal(first.status, CODES[first.status], f"body.{first.key}: {first.message}{more}")


def merged(entry: type[E], held: dict[str, Any], change: BaseModel) -> E:
    """The entry as it will be: what is held, with the fields the change sets; checked as a new one."""
    try:
        return entry.model_validate({**held, **change.model_dump(exclude_unset=True)})
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise Refusal(422, "invalid", validation_detail(RequestValidationError(errors))) from None


def known_to(conn: Connection, who: Principal) -> Known:
    """What an entry written by `who` may refer to: a store-manager refers only to their own stores."""
    known = Known.in_cloud(conn)
    if who.role is Role.STORE_MANAGER:
        known.stores &= set(who.operator.stores)
    return known


def not_known(what: str, entity_id: str) -> Refusal:
    return Refusal(404, "not_found", f"{what} {entity_id!r} is not known")


def local_name(record: dict[str, Any]) -> str | dict[str, str]:
    """A stored name back as an entry gives it: the table by language, or the one plain name."""
    names: dict[str, str] = record["names"]
    return names or str(record["name"])
