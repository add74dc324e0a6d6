"""`/v1/admin/operators`: operators' accounts and API tokens (admins only). Never a hash in a reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from cabinetcloud import audit, operators
from cabinetcloud.admin.access import Admin, now_of, refusal, storage_of
from cabinetcloud.admin.models import (
    ID_PATTERN,
    IssuedToken,
    OperatorIn,
    OperatorOut,
    OperatorPatch,
    PasswordIn,
    TokenIn,
    TokenOut,
)
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import refusals

router = APIRouter(prefix="/operators", tags=["operators"], route_class=BodyLimitedRoute)

OperatorName = Annotated[str, Path(pattern=ID_PATTERN)]
TokenId = Annotated[int, Path(ge=1, le=2**52)]


@router.get("", responses=refusals(401, 403))
def list_operators(request: Request, who: Admin) -> list[OperatorOut]:
    with storage_of(request).reading() as conn:
        return [OperatorOut.of(operator) for operator in operators.listing(conn)]


@router.get("/{name}", responses=refusals(401, 403, 404))
def get_operator(request: Request, name: OperatorName, who: Admin) -> OperatorOut:
    with storage_of(request).reading() as conn:
        try:
            return OperatorOut.of(operators.get(conn, name))
        except operators.OperatorError as exc:
            raise refusal(exc) from None


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404, 409))
def create_operator(request: Request, body: OperatorIn, who: Admin) -> OperatorOut:
    with storage_of(request).writing() as conn:
        try:
            made = operators.add(conn, body.name, body.role, tuple(body.stores), body.password, now_of(request))
        except operators.OperatorError as exc:
            raise refusal(exc) from None
        audit.record(conn, who.actor, "create", "operator", made.name, after=made.view())
        return OperatorOut.of(made)


@router.patch("/{name}", responses=refusals(400, 413, 415, 401, 403, 404, 409))
def update_operator(request: Request, name: OperatorName, body: OperatorPatch, who: Admin) -> OperatorOut:
    """Change the role, a store-manager's stores, or disable (active=false: their sessions end)."""
    with storage_of(request).writing() as conn:
        try:
            before, after = operators.update(
                conn,
                name,
                role=body.role,
                stores=None if body.stores is None else tuple(body.stores),
                active=body.active,
            )
        except operators.OperatorError as exc:
            raise refusal(exc) from None
        if before != after:
            audit.record(conn, who.actor, "update", "operator", name, before=before.view(), after=after.view())
        return OperatorOut.of(after)


@router.put("/{name}/password", status_code=204, responses=refusals(400, 413, 415, 401, 403, 404))
def set_password(request: Request, name: OperatorName, body: PasswordIn, who: Admin) -> Response:
    """A new password; the operator's browser sessions end."""
    with storage_of(request).writing() as conn:
        try:
            before = operators.get(conn, name)
            after = operators.set_password(conn, name, body.password)
        except operators.OperatorError as exc:
            raise refusal(exc) from None
        audit.record(conn, who.actor, "set_password", "operator", name, before=before.view(), after=after.view())
    return Response(status_code=204)


@router.get("/{name}/tokens", responses=refusals(401, 403, 404))
def list_tokens(request: Request, name: OperatorName, who: Admin) -> list[TokenOut]:
    with storage_of(request).reading() as conn:
        try:
            return [TokenOut.model_validate(record) for record in operators.tokens(conn, name)]
        except operators.OperatorError as exc:
            raise refusal(exc) from None


@router.post("/{name}/tokens", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404))
def issue_token(request: Request, name: OperatorName, body: TokenIn, who: Admin) -> IssuedToken:
    """A new API token for the operator, shown in this reply only."""
    with storage_of(request).writing() as conn:
        try:
            record, secret = operators.issue_token(conn, name, body.name, now_of(request))
        except operators.OperatorError as exc:
            raise refusal(exc) from None
        audit.record(conn, who.actor, "issue_token", "operator", name, after=record)
    return IssuedToken(token=TokenOut.model_validate(record), secret=secret)


@router.delete("/{name}/tokens/{token_id}", responses=refusals(401, 403, 404, 409))
def revoke_token(request: Request, name: OperatorName, token_id: TokenId, who: Admin) -> TokenOut:
    with storage_of(request).writing() as conn:
        try:
            before, after = operators.revoke_token(conn, name, token_id, now_of(request))
        except operators.OperatorError as exc:
            raise refusal(exc) from None
        audit.record(conn, who.actor, "revoke_token", "operator", name, before=before, after=after)
    return TokenOut.model_validate(after)
