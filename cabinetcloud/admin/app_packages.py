"""`/v1/admin/app-packages`: the APKs of the work types' apps (docs/app-packages.md).

An upload is the APK itself as the body (Content-Type application/vnd.android.package-archive), its
file name, for messages, in an optional `Content-Disposition: attachment; filename="..."`. Uploads and
deletions are fleet-wide changes (admins and operators); every role may list them.
"""

from __future__ import annotations

from datetime import datetime
from email.message import Message
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cabinetcloud.admin.access import Reader, Writer, now_of, storage_of
from cabinetcloud.apppackages import uploads
from cabinetcloud.apppackages.uploads import MAX_APK_BYTES, MEDIA_TYPE, PackageError
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/app-packages", tags=["app packages"], route_class=BodyLimitedRoute)

Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
UNNAMED: Final = "the uploaded APK"
UPLOAD_BODY: Final = {
    "requestBody": {"required": True, "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
}


class AppPackageOut(BaseModel):
    sha256: str = Field(description="of the APK's bytes: its key, and what a cabinet downloads it by")
    package: str = Field(description="the package name, read from the APK's AndroidManifest.xml")
    version_code: int
    version_name: str | None
    size: int
    signer_sha256: str = Field(description="sha256 of the signing certificate (verified v2/v3 signature)")
    uploaded_by: str
    uploaded_at: datetime


def _refusal(error: PackageError) -> Refusal:
    return Refusal(error.status, error.code, str(error))


def _file_name(request: Request) -> str:
    header = request.headers.get("content-disposition")
    if header is None:
        return UNNAMED
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return name[:200] if name else UNNAMED


def _checked_headers(request: Request) -> None:
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise Refusal(411, "length_required", "send the APK with a Content-Length")
    if int(length) > MAX_APK_BYTES:
        raise Refusal(413, "too_large", f"an APK is at most {MAX_APK_BYTES} bytes")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != MEDIA_TYPE:
        raise Refusal(415, "bad_content_type", f"send the APK itself as the body, Content-Type {MEDIA_TYPE}")
    if request.headers.get("content-encoding", "identity").strip().lower() != "identity":
        raise Refusal(415, "bad_content_type", "send the APK as it is: an APK is compressed already")


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_APK_BYTES:  # a Content-Length that lied
            raise Refusal(413, "too_large", f"an APK is at most {MAX_APK_BYTES} bytes")
    return bytes(data)


@router.post("", status_code=201, openapi_extra=UPLOAD_BODY, responses=refusals(401, 403, 409, 411, 413, 415))
async def upload_app_package(request: Request, response: Response, who: Writer) -> AppPackageOut:
    """Upload an APK: 201 when new, 200 when these very bytes are kept already."""
    _checked_headers(request)
    data = await _body(request)
    try:
        kept, new = await run_in_threadpool(
            uploads.accept, storage_of(request), data, _file_name(request), who.actor, now_of(request)
        )
    except PackageError as error:
        raise _refusal(error) from None
    if not new:
        response.status_code = 200
    return AppPackageOut(**kept)


@router.get("", responses=refusals(401, 403))
def list_app_packages(
    request: Request, who: Reader, package: Annotated[str | None, Query(min_length=1, max_length=200)] = None
) -> list[AppPackageOut]:
    """The APKs by package name, the newest versionCode first; `package` keeps one package's."""
    with storage_of(request).reading() as conn:
        return [AppPackageOut(**found) for found in uploads.listed(conn, package)]


@router.get("/{sha256}", responses=refusals(401, 403, 404))
def get_app_package(request: Request, sha256: Sha256, who: Reader) -> AppPackageOut:
    with storage_of(request).reading() as conn:
        found = uploads.one(conn, sha256)
    if found is None:
        raise Refusal(404, "not_found", f"app package {sha256} is not known")
    return AppPackageOut(**found)


@router.delete("/{sha256}", status_code=204, responses=refusals(401, 403, 404, 409))
def delete_app_package(request: Request, sha256: Sha256, who: Writer) -> Response:
    """Only an APK no work type's app is now: 409 names the work types that still have it."""
    try:
        uploads.remove(storage_of(request), sha256, who.actor, now_of(request))
    except PackageError as error:
        raise _refusal(error) from None
    return Response(status_code=204)
