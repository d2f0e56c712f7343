"""Walk a real OpenID Provider's login form, as a browser would."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import requests


def submit_login_form(authorize_url: str, username: str, password: str) -> str:
    """Open the provider's login page at ``authorize_url``, fill in the form and
    return the ``Location`` the provider redirects the browser to."""
    browser = requests.Session()
    page = browser.get(authorize_url, timeout=10, headers={"Connection": "close"})
    page.raise_for_status()
    form = re.search(r"<form[^>]*action=\"([^\"]*)\"", page.text)
    fields = dict(
        (unescape(name), unescape(value))
        for name, value in re.findall(
            r"<input[^>]*type=\"hidden\"[^>]*name=\"([^\"]*)\"[^>]*value=\"([^\"]*)\"", page.text
        )
    )
    fields.update(username=username, password=password)
    action = unescape(form.group(1)) if form and form.group(1) else authorize_url
    if action.startswith("/"):
        parts = urlsplit(authorize_url)
        action = f"{parts.scheme}://{parts.netloc}{action}"
    reply = browser.post(
        action, data=fields, allow_redirects=False, timeout=10, headers={"Connection": "close"}
    )
    assert reply.status_code in (302, 303), reply.text[:500]
    return reply.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
