"""Running requests through the service from several threads as Lambda would serve them.

``chalice.test.Client`` swaps ``os.environ`` for a copy holding the stage's
variables during each request and puts back the object it found, so
overlapping requests can leave a copy behind. The service reads no setting
from the environment at request time (the tests give it ``Settings``), so
``ThreadSafeClient`` sends requests through the same local gateway without
that swap. Each thread's request is its own: ``app.py`` keeps the request
being served per thread.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import LocalGateway, LocalGatewayException
from chalice.test import HTTPResponse


class ThreadSafeClient:
    """The HTTP side of ``chalice.test.Client`` (``client.http.get(...)``), safe to
    call from several threads at once."""

    def __init__(self, app: Chalice, stage_name: str, project_dir: str) -> None:
        config = CLIFactory(project_dir).create_config_obj(chalice_stage_name=stage_name)
        self._gateway = LocalGateway(app, config)

    @property
    def http(self) -> ThreadSafeClient:
        return self

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | str = b""
    ) -> HTTPResponse:
        try:
            answer = self._gateway.handle_request(
                method=method.upper(), path=path, headers=headers or {}, body=body
            )
        except LocalGatewayException as exc:
            return HTTPResponse(headers=exc.headers, body=exc.body or b"", status_code=exc.CODE)
        return HTTPResponse.create_from_dict(answer)

    def get(self, path: str, **kwargs: Any) -> HTTPResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HTTPResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HTTPResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HTTPResponse:
        return self.request("DELETE", path, **kwargs)
