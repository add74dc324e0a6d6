"""`GET /v1/packages/{sha256}`: an app package's bytes for an enrolled cabinet.

The cabinet comes with its own token. Every cabinet receives every work type, so any enrolled cabinet
may fetch any APK the fleet holds; the sha256 in the path is what the work type's replica names. The
bytes go out chunk by chunk, each read in a short transaction of its own (as a release's do), with
Content-Length, and a `Range` resumes a download cut short (206).
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import StreamingResponse

from cabinetcloud.apppackages.tables import CHUNK_BYTES, app_package_chunks, app_packages
from cabinetcloud.apppackages.uploads import MEDIA_TYPE
from cabinetcloud.auth import Caller
from cabinetcloud.releases.download import cabinet_caller, chunked_download
from cabinetcloud.replies import Refusal, refusals
from cabinetcloud.storage import Storage

router = APIRouter(tags=["app packages"])


@router.get(
    "/v1/packages/{sha256}",
    response_class=StreamingResponse,
    responses={**refusals(401, 403, 404, 416), 200: {"content": {MEDIA_TYPE: {}}}, 206: {"content": {MEDIA_TYPE: {}}}},
)
def app_package(
    request: Request,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    who: Annotated[Caller, Depends(cabinet_caller)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> StreamingResponse:
    """The APK's bytes, whole (200) or from the byte asked for (206)."""
    storage: Storage = request.app.state.storage
    with storage.reading() as conn:
        size = conn.execute(sa.select(app_packages.c.size).where(app_packages.c.sha256 == sha256)).scalar()
    if size is None:
        raise Refusal(404, "not_found", f"app package {sha256} is not known")

    def read_chunk(number: int) -> bytes | None:
        with storage.reading() as conn:
            data = conn.execute(
                sa.select(app_package_chunks.c.data).where(
                    app_package_chunks.c.sha256 == sha256, app_package_chunks.c.number == number
                )
            ).scalar()
        return None if data is None else bytes(data)

    return chunked_download(
        read_chunk,
        size=int(size),
        chunk_bytes=CHUNK_BYTES,
        sha256=sha256,
        range_header=range_header,
        media_type=MEDIA_TYPE,
    )
