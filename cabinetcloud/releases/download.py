"""`GET /v1/releases/{id}/package`: a release's bytes for a cabinet it was offered to.

The cabinet comes with its own token, as on its sync routes. The package goes out chunk by chunk,
each read in a short transaction of its own, so a slow store link holds no database transaction
open. `Range: bytes=N-` (or N-M, or -N) resumes a download cut short: 206 with the rest; without
one, 200 with the whole package. Range forms beyond one range are answered with the whole package,
as HTTP allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cabinetcloud import auth, operators
from cabinetcloud.auth import Caller
from cabinetcloud.releases.tables import CHUNK_BYTES, release_chunks, releases, rollout_cabinets
from cabinetcloud.replies import Refusal, refusals
from cabinetcloud.storage import Storage

MEDIA_TYPE: Final = "application/vnd.debian.binary-package"
_RANGE: Final = re.compile(r"^bytes=(?:(\d{1,18})-(\d{0,18})|-(\d{1,18}))$")

router = APIRouter(tags=["releases"])
_bearer = HTTPBearer(auto_error=False, description="The cabinet's own token, issued at enrolment.")


def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


# The cabinet behind a download route (app packages too): its own token, as on its sync routes.
def cabinet_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    storage = _storage(request)
    header = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
    with storage.reading() as conn:
        found = auth.authenticate(conn, header)
    if found is None:
        if credentials is not None and operators.is_operator_token_of(storage, credentials.credentials.strip()):
            raise Refusal(403, "forbidden", "an operator's token is not accepted on cabinet routes")
        raise Refusal(401, "unauthorized", "missing or unknown cabinet token", headers={"WWW-Authenticate": "Bearer"})
    return found


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive of the one range asked for; None for the whole package."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text, suffix = match.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - length), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise _unsatisfiable(header, size)
    return first, last


def _unsatisfiable(header: str, size: int) -> Refusal:
    return Refusal(
        416,
        "range_not_satisfiable",
        f"{header!r}: the package is {size} bytes",
        headers={"Content-Range": f"bytes */{size}"},
    )


def chunked_download(
    read_chunk: Callable[[int], bytes | None],
    *,
    size: int,
    chunk_bytes: int,
    sha256: str,
    range_header: str | None,
    media_type: str,
) -> StreamingResponse:
    """A file kept in numbered chunks, whole (200) or from the byte asked for (206); each chunk is read
    in a short transaction of its own as it goes out, so a large file never sits in memory."""
    asked = byte_range(range_header, size)
    first, last = asked if asked is not None else (0, size - 1)
    headers = {"Content-Length": str(last - first + 1), "Accept-Ranges": "bytes", "ETag": f'"{sha256}"'}
    if asked is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"

    def body() -> Iterator[bytes]:
        for number in range(first // chunk_bytes, last // chunk_bytes + 1):
            data = read_chunk(number)
            if data is None:  # removed while it was being sent: end short, the cabinet's check refuses it
                return
            start = number * chunk_bytes
            yield data[max(first - start, 0) : last - start + 1]

    return StreamingResponse(
        body(), status_code=206 if asked is not None else 200, media_type=media_type, headers=headers
    )


@router.get(
    "/v1/releases/{release_id}/package",
    response_class=StreamingResponse,
    responses={**refusals(401, 403, 404, 416), 200: {"content": {MEDIA_TYPE: {}}}, 206: {"content": {MEDIA_TYPE: {}}}},
)
def package(
    request: Request,
    release_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    who: Annotated[Caller, Depends(cabinet_caller)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> StreamingResponse:
    """The package's bytes, whole (200) or from the byte asked for (206)."""
    storage = _storage(request)
    with storage.reading() as conn:
        offered = conn.execute(
            sa.select(releases.c.size, releases.c.sha256)
            .join(rollout_cabinets, rollout_cabinets.c.release_id == releases.c.id)
            .where(releases.c.id == release_id, rollout_cabinets.c.cabinet_id == who.cabinet_id)
            .limit(1)
        ).first()
    if offered is None:
        raise Refusal(404, "not_found", f"release {release_id} is not offered to cabinet {who.cabinet_id!r}")

    def read_chunk(number: int) -> bytes | None:
        with storage.reading() as conn:
            data = conn.execute(
                sa.select(release_chunks.c.data).where(
                    release_chunks.c.release_id == release_id, release_chunks.c.number == number
                )
            ).scalar()
        return None if data is None else bytes(data)

    return chunked_download(
        read_chunk,
        size=int(offered.size),
        chunk_bytes=CHUNK_BYTES,
        sha256=offered.sha256,
        range_header=range_header,
        media_type=MEDIA_TYPE,
    )
