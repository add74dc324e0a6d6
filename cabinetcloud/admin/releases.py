"""`/v1/admin/releases` and `/v1/admin/rollouts`: upload a signed release, list them, roll one out,
follow a rollout's progress (docs/releases.md).

Uploads are the fleet's (admins and operators). A rollout is a set of remote commands, so it takes
the roles that queue commands: a store-manager rolls out to their own stores' cabinets only, and sees
of a rollout only those cabinets.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cabinetcloud.admin.access import FLEET_COMMANDS, Principal, Reader, Writer, allow, now_of, storage_of
from cabinetcloud.admin.release_shapes import ReleaseOut, RolloutIn, RolloutOut, RolloutProgress
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.operators import Role
from cabinetcloud.releases import progress, rollouts, uploads
from cabinetcloud.releases.uploads import MAX_PACKAGE_BYTES, ReleaseError, Upload
from cabinetcloud.replies import Refusal, refusals
from cabinetproto import releasesig

router = APIRouter(tags=["releases"], route_class=BodyLimitedRoute)

RollingOut = Annotated[Principal, Depends(allow(FLEET_COMMANDS, "roll out releases"))]
ReleaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# The package, its signature and the multipart framing around them.
MAX_UPLOAD_BYTES: Final = MAX_PACKAGE_BYTES + 64 * 1024
UPLOAD_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["package", "signature"],
                    "properties": {
                        "package": {"type": "string", "format": "binary", "description": "the .deb"},
                        "signature": {
                            "type": "string",
                            "format": "binary",
                            "description": "the .deb.sig (64 raw bytes), or its base64 as a text field",
                        },
                    },
                }
            }
        },
    }
}


def _refusal(error: ReleaseError) -> Refusal:
    return Refusal(error.status, error.code, str(error))


def _length(request: Request) -> None:
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise Refusal(411, "length_required", "send the upload with a Content-Length")
    if int(length) > MAX_UPLOAD_BYTES:
        raise Refusal(413, "too_large", f"an upload is at most {MAX_PACKAGE_BYTES} bytes of package")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Refusal(415, "bad_content_type", "send the package and its signature as multipart/form-data")


async def _signature(part: Any) -> bytes:
    if isinstance(part, UploadFile):
        return await part.read()
    if isinstance(part, str):
        try:
            return releasesig.decode_signature(part.strip())
        except releasesig.BadSignature as error:
            raise Refusal(422, "invalid", f"body.signature: {error}") from None
    raise Refusal(422, "invalid", "body.signature: missing: the .deb.sig file (or its base64)")


@router.post(
    "/releases", status_code=201, openapi_extra=UPLOAD_BODY, responses=refusals(400, 401, 403, 409, 411, 413, 415)
)
async def upload_release(request: Request, response: Response, who: Writer) -> ReleaseOut:
    """Upload a release: 201 when new, 200 when these very bytes are a release already."""
    _length(request)
    form = await request.form(max_files=2, max_fields=2)
    package = form.get("package")
    if not isinstance(package, UploadFile):
        raise Refusal(422, "invalid", "body.package: missing: the .deb as a file part")
    signature = await _signature(form.get("signature"))
    upload = Upload(data=await package.read(), signature=signature, name=package.filename or "the package")
    key = request.app.state.release_key
    try:
        kept, new = await run_in_threadpool(
            uploads.accept, storage_of(request), key, upload, who.actor, now_of(request)
        )
    except ReleaseError as error:
        raise _refusal(error) from None
    if not new:
        response.status_code = 200
    return ReleaseOut(**kept)


@router.get("/releases", responses=refusals(401, 403))
def list_releases(request: Request, who: Reader) -> list[ReleaseOut]:
    """The releases, newest first."""
    with storage_of(request).reading() as conn:
        return [ReleaseOut(**found) for found in uploads.listed(conn)]


@router.get("/releases/{release_id}", responses=refusals(401, 403, 404))
def get_release(request: Request, release_id: ReleaseId, who: Reader) -> ReleaseOut:
    with storage_of(request).reading() as conn:
        found = uploads.one(conn, release_id)
    if found is None:
        raise Refusal(404, "not_found", f"release {release_id} is not known")
    return ReleaseOut(**found)


@router.get("/releases/{release_id}/rollouts", responses=refusals(401, 403, 404))
def list_rollouts(request: Request, release_id: ReleaseId, who: Reader) -> list[RolloutOut]:
    """The release's rollouts, newest first."""
    with storage_of(request).reading() as conn:
        if uploads.one(conn, release_id) is None:
            raise Refusal(404, "not_found", f"release {release_id} is not known")
        return [RolloutOut(**found) for found in progress.of_release(conn, release_id)]


@router.post("/releases/{release_id}/rollouts", status_code=201, responses=refusals(400, 401, 403, 404, 413, 415))
def start_rollout(request: Request, release_id: ReleaseId, body: RolloutIn, who: RollingOut) -> RolloutProgress:
    """Offer the release to the target's cabinets: one offer_update command each."""
    if who.role is Role.STORE_MANAGER and body.kind != "cabinets" and body.store is None:
        raise Refusal(403, "forbidden", "role store-manager may roll out to their own stores only: name a store")
    target = rollouts.Target(
        kind=body.kind, store=body.store, cabinets=tuple(body.cabinets or ()), percent=body.percent
    )
    order = rollouts.Order(target, body.allow_downgrade, timedelta(days=body.expires_in_days))
    if body.store is not None and not who.sees_store(body.store):
        raise Refusal(404, "not_found", f"store {body.store!r} is not known")
    try:
        rollout_id = rollouts.start(storage_of(request), release_id, order, who.actor, now_of(request), who.sees_store)
    except ReleaseError as error:
        raise _refusal(error) from None
    return _progress(request, rollout_id, who)


def _progress(request: Request, rollout_id: int, who: Principal) -> RolloutProgress:
    with storage_of(request).reading() as conn:
        found = progress.of_rollout(conn, rollout_id, now_of(request), who.sees_store)
    if found is None:
        raise Refusal(404, "not_found", f"rollout {rollout_id} is not known")
    return RolloutProgress(**found)


@router.get("/rollouts/{rollout_id}", responses=refusals(401, 403, 404))
def get_rollout(request: Request, rollout_id: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Reader) -> RolloutProgress:
    """Each chosen cabinet's last update_* event for the release and the version it reports, with counts."""
    return _progress(request, rollout_id, who)
