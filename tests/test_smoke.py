from typing import Any

from chalice.test import Client


def test_me_returns_callers_record(client: Client, admin: Any) -> None:
    response = client.http.get("/api/v1/user/me", headers=admin.headers)
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == admin.id
