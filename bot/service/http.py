"""Reading a request body with a size cap, shared by the webhook and the findings API."""
from __future__ import annotations

from starlette.requests import Request


class TooLarge(Exception):
    pass


async def read_capped(request: Request, max_body: int) -> bytes:
    """The whole body, or TooLarge as soon as the declared or streamed size passes ``max_body``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_body:
                raise TooLarge
        except ValueError:
            pass  # the server rejects a malformed length; the streamed count still caps
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:
            raise TooLarge
    return bytes(body)
