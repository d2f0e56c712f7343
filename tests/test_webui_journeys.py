"""The web UI end to end: Debian's Chromium against ``chalice local``, DynamoDB Local
and the local OpenID Provider, doing what people do on the site (README, "The web UI")."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from devtools.local_stack import Store
from tests.browser import BrowserPage, fill_provider_login
from tests.servers import page_server
from tests.webui_pages import (
    Stack,
    check_page,
    csp_violations,
    running_stack,
    serious_violations,
    unreachable_by_keyboard,
)

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)


@pytest.fixture(autouse=True)
def patient_expectations() -> Iterator[None]:
    """The machine is shared: give each expectation 15 s instead of 5 s."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def stack(local_store: Store) -> Iterator[Stack]:
    yield from running_stack(local_store, "users-webui-")


def sign_in_with_key(page: Page, stack: Stack, key: str) -> None:
    page.goto(f"{stack.base}/")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()


def stored_by_the_page(page: Page) -> dict[str, object]:
    """What the page keeps in the browser itself: web storage, and the cookies its
    script can see (the session cookie is HttpOnly; ``_csrf_token`` is the service's)."""
    found: dict[str, object] = page.evaluate(
        """() => ({
            localStorage: localStorage.length,
            sessionStorage: sessionStorage.length,
            cookies: document.cookie.split('; ').filter(Boolean).map((c) => c.split('=')[0]),
        })"""
    )
    return found


NOTHING_STORED = {"localStorage": 0, "sessionStorage": 0, "cookies": ["_csrf_token"]}


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_first_provider_sign_in_profile_keys_history_and_sign_out(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_page(browser_page, "sign-in")
    page.get_by_role("button", name="Sign in with local").click()
    fill_provider_login(page, "alice", "alice-password")

    # Back on the page, signed in: the person's name and Sign out.
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Alice Example")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("alice@example.org")).to_be_visible()

    # A refused value: the API's message beside the form; then a saved one.
    page.get_by_label("ORCID").fill("1234")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".beside [role=alert]")).to_contain_text("orcid")
    page.get_by_label("ORCID").fill("0000-0002-1825-0097")
    page.get_by_label("Affiliation").fill("Example Institute")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Your profile is saved.")
    check_page(browser_page, "profile")
    page.reload()
    expect(page.get_by_label("Affiliation")).to_have_value("Example Institute")

    # A key: shown once, with Copy; then revoked after confirmation.
    nav(page, "API keys")
    page.get_by_label("Name", exact=True).fill("laptop")
    expect(page.get_by_label("Expires in days")).to_have_value("90")  # the default, filled in
    page.get_by_label("Expires in days").fill("30")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("New API key", exact=True)
    expect(new_key).to_have_value(re.compile(r"^uk_"))
    key = new_key.input_value()
    expect(page.get_by_text("This key will not be shown again.")).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("laptop")
    check_page(browser_page, "api-keys")
    assert stack.call("GET", "/user/me", key=key).status_code == 200

    # Enough changes for a second page of history, made by a script with the key.
    for n in range(21):
        assert stack.call("PATCH", "/user/me", key=key, json={"user": {"contact": f"room {n}"}}).ok

    page.get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Yes, revoke").click()
    expect(page.get_by_role("status").filter(has_text="revoked")).to_contain_text("revoked")
    expect(page.get_by_text("No API keys.")).to_be_visible()
    assert stack.call("GET", "/user/me", key=key).status_code == 401

    nav(page, "History")
    changes = page.get_by_role("region", name="Changes to your record")
    entries = changes.locator("li.entry")
    expect(entries).to_have_count(20)
    # Newest first: the key revoked, by its name.
    expect(entries.first).to_contain_text("you revoked the API key 'laptop' of your record")
    changes.get_by_role("button", name="More").click()
    expect(entries).to_have_count(25)  # made, profile, key made, 21 script edits, key revoked
    expect(entries.last).to_contain_text("the service created your record")
    edit = changes.locator("li.entry").filter(has_text="Example Institute")
    expect(edit).to_contain_text("you changed your record")
    expect(edit.locator("dt")).to_have_text(["Affiliation", "ORCID iD"])
    expect(edit.locator("dd").first).to_have_text("from (empty) to Example Institute")
    expect(changes).not_to_contain_text("auth_ids")
    expect(changes).not_to_contain_text("email_verified")
    actions = page.get_by_role("region", name="Your actions")
    expect(actions.get_by_text("you changed your record").first).to_be_visible()
    check_page(browser_page, "history")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert csp_violations(browser_page.console_lines()) == []


def test_sign_in_with_an_api_key(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    page.get_by_label("API key", exact=True).fill("uk_not.a.key")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    sign_in_with_key(page, stack, stack.manager_key)
    expect(page.get_by_role("banner")).to_contain_text("Mona Manager")
    expect(page.get_by_role("navigation").get_by_role("link", name="Users")).to_be_visible()
    # The session outlives a reload: the access token is renewed from the cookie.
    page.reload()
    expect(page.get_by_role("banner")).to_contain_text("Mona Manager")
    # Nothing in web storage: the token, and the key the session was made with, in memory.
    assert stored_by_the_page(page) == NOTHING_STORED
    # Signed out elsewhere (another tab): the next call finds no session and the
    # page goes back to signing in.
    ended = page.evaluate(
        """async () => {
            const csrf = document.cookie.match(/_csrf_token=([^;]+)/)[1]
            const headers = {'X-CSRF-Token': csrf}
            const r = await fetch('api/v1/logout', {method: 'POST', headers})
            return r.status
        }"""
    )
    assert ended == 204
    # Opened by its address rather than the nav's link: the page may already have
    # found the session gone (a token renewal) and taken the link away.
    page.evaluate("location.hash = '#/keys'")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_scoped_read_only_key_is_made_used_and_rotated(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    sign_in_with_key(page, stack, stack.manager_key)
    nav(page, "API keys")
    days = page.get_by_label("Expires in days")
    expect(days).to_have_value("90")
    expect(page.get_by_text("At most 365 days.")).to_be_visible()
    may = page.get_by_role("group", name="This key may")
    boxes = may.get_by_role("checkbox")
    expect(boxes).to_have_count(6)
    for n in range(6):
        expect(boxes.nth(n)).to_be_checked()
    for name in ("DATA_EDIT", "OWNERS_READ", "USER_ADD", "USER_MANAGEMENT", "DATA_MANAGEMENT"):
        may.get_by_label(name, exact=True).uncheck()
    page.get_by_label("Read only", exact=True).check()
    page.get_by_label("Name", exact=True).fill("nightly report")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("New API key", exact=True)
    expect(new_key).to_have_value(re.compile(r"^uk_"))
    key = new_key.input_value()
    row = page.get_by_role("row").filter(has_text="nightly report")
    expect(row).to_contain_text("USER_SEARCH; read only")

    # The script may search, but neither manage nor write; the page shows its use.
    assert stack.call("GET", "/user", key=key).status_code == 200
    assert stack.call("GET", f"/user/{stack.manager_id}", key=key).status_code == 403
    refused = stack.call("PATCH", "/user/me", key=key, json={"user": {"name": "X"}})
    assert (refused.status_code, refused.json()["Code"]) == (403, "KeyReadOnly")
    page.reload()
    row = page.get_by_role("row").filter(has_text="nightly report")
    expect(row).to_contain_text("127.0.0.1")
    check_page(browser_page, "api-keys")

    # Rotated: the new key shown once, and until when the old one works.
    row.get_by_role("button", name="Rotate").click()
    row.get_by_role("button", name="Yes, rotate").click()
    expect(page.get_by_role("status")).to_contain_text("works until")
    rotated = page.get_by_label("New API key", exact=True)
    expect(rotated).not_to_have_value(key)
    assert stack.call("GET", "/user", key=rotated.input_value()).status_code == 200
    assert stack.call("GET", "/user", key=key).status_code == 200  # the 24-hour overlap
    assert (
        stack.call("GET", f"/user/{stack.manager_id}", key=rotated.input_value()).status_code == 403
    )


def test_failed_login_is_explained_in_words(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/?login_error=email_in_use")
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    assert "login_error" not in page.url


def test_manager_finds_changes_meets_412_deletes_and_cannot_delete_the_last_manager(
    stack: Stack, browser_page: BrowserPage
) -> None:
    created = stack.call(
        "POST", "/user", json={"user": {"email": "erin@example.org", "name": "Erin"}}
    )
    assert created.status_code == 201
    erin = created.json()["id"]
    page = browser_page.page
    sign_in_with_key(page, stack, stack.manager_key)

    nav(page, "Users")
    page.get_by_label("Search users").fill("ERIN@example.org")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(1)
    check_page(browser_page, "users")
    rows.get_by_role("link", name="Erin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("User Erin")
    expect(page.get_by_label("Email", exact=True)).to_have_value("erin@example.org")

    # Permissions: one checkbox per name; saved with If-Match. (The page's other
    # form makes API keys for the user.)
    record = page.get_by_role("form", name="User record")
    for name in ("DATA_EDIT", "OWNERS_READ", "USER_ADD", "USER_SEARCH", "USER_MANAGEMENT"):
        expect(record.get_by_label(name, exact=True)).not_to_be_checked()
    record.get_by_label("USER_SEARCH", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text("The user is saved.")
    assert stack.call("GET", f"/user/{erin}").json()["user"]["permissions"] == ["USER_SEARCH"]
    check_page(browser_page, "user")

    # Someone else changes the record: the next save meets 412 and offers a reload.
    changed = stack.call("PATCH", f"/user/{erin}", json={"user": {"affiliation": "Elsewhere"}})
    assert changed.ok
    record.get_by_label("Name", exact=True).fill("Erin Changed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("changed this user since you opened")
    page.get_by_role("button", name="Reload").click()
    expect(page.get_by_label("Affiliation")).to_have_value("Elsewhere")
    expect(record.get_by_label("Name", exact=True)).to_have_value("Erin")
    expect(page.get_by_role("region", name="Changes to this record")).to_contain_text("Elsewhere")

    page.get_by_role("button", name="Delete user").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("status").filter(has_text="deleted")).to_contain_text(
        "erin@example.org is deleted"
    )
    assert stack.call("GET", f"/user/{erin}").status_code == 404

    # New user, then the last manager (oneself) cannot be deleted.
    page.get_by_role("link", name="New user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New user")
    page.get_by_label("Email", exact=True).fill("frank@example.org")
    page.get_by_label("Name", exact=True).fill("Frank")
    check_page(browser_page, "new-user")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("User Frank")

    page.goto(f"{stack.base}/#/users/{stack.manager_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("User Mona Manager")
    page.get_by_role("button", name="Delete user").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("alert")).to_contain_text("last one who can manage users")
    assert stack.call("GET", "/user/me").status_code == 200
    assert csp_violations(browser_page.console_lines()) == []


def test_person_without_permissions_never_sees_users(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    page.get_by_role("button", name="Sign in with local").click()
    fill_provider_login(page, "dave", "dave-password")
    expect(page.get_by_role("banner")).to_contain_text("Dave Example")
    navigation = page.get_by_role("navigation")
    expect(navigation.get_by_role("link", name="Profile")).to_be_visible()
    expect(navigation.get_by_role("link", name="Users")).to_have_count(0)
    # Signing in ends on the profile; only then is the address changed by hand.
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    page.goto(f"{stack.base}/#/users")
    # The page says why, instead of sending the person elsewhere.
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.get_by_role("alert")).to_contain_text("You may not use this page")
    expect(page.get_by_role("alert")).to_contain_text("USER_SEARCH")
    check_page(browser_page, "not-allowed")
    page.get_by_role("link", name="Go to your profile").click()
    expect(page.get_by_text("Permissions")).to_be_visible()


def test_sign_in_methods_link_and_unlink_and_permissions_say_why(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    page.get_by_role("button", name="Sign in with local").click()
    fill_provider_login(page, "gwen", "gwen-password")
    expect(page.get_by_role("banner")).to_contain_text("Gwen Example")
    methods = page.get_by_role("region", name="Sign-in methods")
    expect(methods.get_by_role("listitem")).to_have_text([re.compile(r"^local \(gwen-sub\)")])

    # Linking the provider one signs in with again changes nothing, and says nothing.
    methods.get_by_role("button", name="Link local").click()
    fill_provider_login(page, "gwen", "gwen-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    expect(methods.get_by_role("listitem")).to_have_count(1)
    expect(page.get_by_role("alert")).to_have_count(0)

    # A grant by hand, and what it implies, each with its description and why.
    [gwen] = stack.call("GET", "/user?email=gwen@example.org").json()["users"]
    grant = {"user": {"permissions": ["DATA_EDIT"]}}
    assert stack.call("PATCH", f"/user/{gwen['id']}", json=grant).ok
    page.reload()
    reasons = page.get_by_role("region", name="Permissions").get_by_role("listitem")
    expect(reasons.filter(has_text="DATA_EDIT:")).to_contain_text("(granted by hand)")
    expect(reasons.filter(has_text="USER_ADD:")).to_have_text(
        "USER_ADD: create users (implied by DATA_EDIT)"
    )
    check_page(browser_page, "sign-in-methods")

    # The last sign-in method may go: the session stays, a key signs in later.
    methods.get_by_role("button", name="Unlink").click()
    page.get_by_role("button", name="Yes, unlink").click()
    expect(methods.get_by_role("status")).to_have_text("The local sign-in is unlinked.")
    expect(methods).to_contain_text("No provider sign-in is linked: you sign in with an API key.")
    assert stack.call("GET", f"/user/{gwen['id']}").json()["user"]["auth_ids"] == []


def test_api_page_renders_the_openapi_document(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    nav(page, "API")
    operation = page.locator("details.operation", has_text="PATCH /api/v1/user/{user_id}")
    operation.locator("summary").first.click()
    expect(operation).to_contain_text("needs USER_MANAGEMENT")
    expect(operation).to_contain_text("If-Match")
    expect(operation).to_contain_text("VersionMismatch")
    expect(operation).to_contain_text("UserBody")
    check_page(browser_page, "api")
    assert csp_violations(browser_page.console_lines()) == []


def test_keyboard_alone_signs_in_with_a_key(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    page.goto(f"{stack.base}/")
    expect(page.get_by_role("button", name="Sign in with local")).to_be_visible()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.type") == "password":
            break
    page.keyboard.type(stack.manager_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()


def test_page_checks_find_an_unlabelled_control_and_one_out_of_keyboard_reach(
    browser_page: BrowserPage,
) -> None:
    # Tab stops that are no control (here five; a scrollable box is one too) come
    # before the reachable button: the walk presses on past them.
    stops = "<div tabindex='0'>stop</div>" * 5
    page = (
        "<!doctype html><html lang='en'><title>t</title><main><input type='text'>"
        f"{stops}<button type='button'>Reached</button>"
        "<button tabindex='-1'>Skipped</button></main>"
    )
    with page_server({"/": page}) as origin:
        browser_page.page.goto(f"{origin}/")
        found = serious_violations(browser_page.page)
        missed = unreachable_by_keyboard(browser_page.page)
    assert any(line.startswith("label:") for line in found), found
    assert missed == ['<button tabindex="-1">Skipped</button>']


@pytest.fixture(scope="module")
def prefixed(local_store: Store) -> Iterator[Stack]:
    """The service at http://127.0.0.1:<proxy>/users/ behind a reverse proxy."""
    yield from running_stack(local_store, "users-webui-prefix-", path_prefix="/users")


def test_page_works_under_a_path_prefix(prefixed: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    assert prefixed.base.endswith("/users")
    page.goto(f"{prefixed.base}/")
    nav(page, "API")
    expect(page.locator("details.operation").first).to_be_visible()
    assert page.url == f"{prefixed.base}/#/api"
    nav(page, "Sign in")
    page.get_by_role("button", name="Sign in with local").click()
    fill_provider_login(page, "alice", "alice-password")
    expect(page.get_by_role("banner")).to_contain_text("Alice Example")
    assert page.url.startswith(f"{prefixed.base}/")
    page.get_by_role("button", name="Sign out").click()
    sign_in_with_key(page, prefixed, prefixed.manager_key)
    expect(page.get_by_role("banner")).to_contain_text("Mona Manager")
    nav(page, "Users")
    expect(page.locator("table.users tbody tr")).to_have_count(2)
    assert csp_violations(browser_page.console_lines()) == []


def test_users_are_listed_a_page_at_a_time(stack: Stack, browser_page: BrowserPage) -> None:
    for n in range(50):
        body = {"user": {"email": f"page-{n:02d}@example.org", "name": f"Paged {n:02d}"}}
        assert stack.call("POST", "/user", json=body).status_code == 201
    total = 0
    cursor = None
    while True:
        page_of = stack.call("GET", "/user", params={"limit": 1000, "cursor": cursor}).json()
        total += len(page_of["users"])
        cursor = page_of["next"]
        if cursor is None:
            break
    page = browser_page.page
    sign_in_with_key(page, stack, stack.manager_key)
    nav(page, "Users")
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="More").click()
    expect(rows).to_have_count(total)
    expect(page.get_by_role("button", name="More")).to_have_count(0)


# -- reading: search, history, phones, states, keys, keyboard ----------------------

PHONE = {"width": 390, "height": 844}


def sideways_scroll(page: Page) -> int:
    """How far the page scrolls sideways (0 when it fits its window)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(width, 0)


def test_a_manager_searches_by_name_and_reads_who_changed_what(
    stack: Stack, browser_page: BrowserPage
) -> None:
    ada = stack.call(
        "POST",
        "/user",
        json={"user": {"email": "countess@example.org", "name": "Ada Lovelace", "contact": "a"}},
    ).json()["id"]
    editor = stack.call(
        "POST",
        "/user",
        json={"user": {"email": "ed@example.org", "name": "Ed Editor", "permissions": []}},
    ).json()["id"]
    assert stack.call(
        "PATCH", f"/user/{editor}", json={"user": {"permissions": ["USER_MANAGEMENT"]}}
    ).ok
    ed_key = stack.call("POST", f"/user/{editor}/apikeys", json={}).json()["key"]
    contact = {"user": {"contact": "Room 1\nSecond floor"}}
    assert stack.call("PATCH", f"/user/{ada}", key=ed_key, json=contact).ok
    page = browser_page.page
    sign_in_with_key(page, stack, stack.manager_key)
    nav(page, "Users")
    page.get_by_label("Search users").fill("lové")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("caption")).to_have_text("Users matching “lové”")
    page.get_by_label("Search users").fill("nobody-matches")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No user matches “nobody-matches”.")).to_be_visible()
    page.get_by_label("Search users").fill("COUNTESS@")
    page.get_by_role("button", name="Search").click()
    rows.get_by_role("link", name="Ada Lovelace").click()

    changes = page.get_by_role("region", name="Changes to this record")
    entries = changes.locator("li.entry")
    expect(entries).to_have_count(2)
    newest = entries.first
    expect(newest).to_contain_text("Ed Editor changed this record")
    expect(newest.locator("dd")).to_contain_text("from a to Room 1")
    # The two lines stay two lines.
    value = newest.locator("dd .value").last
    assert value.evaluate("e => e.innerText") == "Room 1\nSecond floor"
    newest.get_by_role("link", name="Ed Editor").focus()
    changes.get_by_role("button", name="Oldest first").click()
    expect(entries.first).to_contain_text("you created this record")
    expect(changes.get_by_role("button", name="Newest first")).to_be_visible()
    check_page(browser_page, "user-history")


def test_every_page_fits_a_phone_with_long_unbroken_values(
    stack: Stack, browser_page: BrowserPage
) -> None:
    long = "W" * 300
    made = stack.call(
        "POST",
        "/user",
        json={"user": {"email": f"{'x' * 60}@example.org", "name": long, "affiliation": long}},
    ).json()["id"]
    key = stack.call("POST", f"/user/{made}/apikeys", json={"name": "k" * 60}).json()["key"]
    assert stack.call("PATCH", f"/user/{made}", json={"user": {"contact": long}}).ok
    page = browser_page.page
    page.set_viewport_size(PHONE)
    sign_in_with_key(page, stack, key)
    assert sideways_scroll(page) == 0, "profile"
    # The form is one column: each label sits above its field.
    label = page.get_by_text("Affiliation", exact=True).first.bounding_box()
    field = page.get_by_label("Affiliation").bounding_box()
    assert label is not None and field is not None
    assert field["y"] >= label["y"] + label["height"] - 1
    check_page(browser_page, "phone-profile")
    for name in ("API keys", "History", "API"):
        nav(page, name)
        browser_page.settle()
        assert sideways_scroll(page) == 0, name
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in_with_key(page, stack, stack.manager_key)
    # page.goto() to another #/ address returns before the web UI has swapped pages:
    # each page is judged once its heading says it is the one on screen.
    page.goto(f"{stack.base}/#/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    list_every_user(page)  # the list's first page may hold others only
    expect(page.get_by_text(long).first).to_be_visible()
    assert sideways_scroll(page) == 0, "users"
    page.goto(f"{stack.base}/#/users/{made}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"User {long}")
    browser_page.settle()
    assert sideways_scroll(page) == 0, "user"
    check_page(browser_page, "phone-user")


def list_every_user(page: Page) -> None:
    """On the users page, press "More" until no more users come."""
    more = page.get_by_role("button", name="More")
    rows = page.locator("table.users tbody tr")
    expect(rows.first).to_be_visible()  # the first page is shown, with "More" if more come
    while more.count():
        shown = rows.count()
        more.click()
        expect(rows).not_to_have_count(shown)


def test_a_failed_section_says_what_failed_and_retries(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    sign_in_with_key(page, stack, stack.manager_key)
    page.route("**/api/v1/user/*/log*", lambda route: route.abort())
    nav(page, "History")
    changes = page.get_by_role("region", name="Changes to your record")
    expect(changes.get_by_role("alert")).to_contain_text("The history could not be loaded")
    page.unroute("**/api/v1/user/*/log*")
    changes.get_by_role("button", name="Try again").click()
    expect(changes.locator("li.entry").first).to_be_visible()
    expect(changes.get_by_role("alert")).to_have_count(0)


def test_keys_notice_and_revoking_this_sessions_key(
    stack: Stack, browser_page: BrowserPage
) -> None:
    made = stack.call("POST", "/user", json={"user": {"email": "kim@example.org", "name": "Kim"}})
    kim = made.json()["id"]
    key = stack.call("POST", f"/user/{kim}/apikeys", json={"name": "session"}).json()["key"]
    page = browser_page.page
    sign_in_with_key(page, stack, key)
    nav(page, "API keys")
    for name in ("first", "second"):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create key").click()
        expect(page.locator("table.keys")).to_contain_text(name)
    expect(page.locator(".new-key")).to_have_count(1)
    expect(page.locator(".new-key")).not_to_contain_text("Copied.")
    second = page.locator("table.keys tbody tr", has_text="second")
    second.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.get_by_role("button", name="Yes, revoke").click()
    expect(page.locator(".new-key")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="revoked")).to_be_focused()

    # After a reload the page learns again which key its session was made with.
    page.reload()
    own = page.locator("table.keys tbody tr", has_text="session")
    own.get_by_role("button", name="Revoke").click()
    expect(own).to_contain_text("this signs you out here")
    check_page(browser_page, "api-keys-own")
    own.get_by_role("button", name="Yes, revoke").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="signed out")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_keyboard_skip_link_focus_confirmations_and_deep_links(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # A signed-out deep link survives sign-in.
    page.goto(f"{stack.base}/#/keys")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    page.get_by_label("API key", exact=True).fill(stack.manager_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    # Focus is on the new page's heading, not left in the form.
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    nav(page, "History")
    expect(page.get_by_role("heading", level=1)).to_be_focused()

    made = stack.call("POST", "/user", json={"user": {"email": "del@example.org", "name": "Del"}})
    page.goto(f"{stack.base}/#/users/{made.json()['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("User Del")
    page.get_by_role("button", name="Delete user").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Delete user")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Yes, delete
    expect(page.get_by_role("status").filter(has_text="deleted")).to_contain_text(
        "del@example.org is deleted"
    )
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_signed_out_deep_link_comes_back_through_a_provider_with_nothing_stored(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    heading = page.get_by_role("heading", level=1)
    page.goto(f"{stack.base}/#/keys")
    expect(page.get_by_text("Sign in to open that page.")).to_be_visible()

    # Refused at the provider: back on Sign in, told why, the page asked for still kept.
    page.get_by_role("button", name="Sign in with local").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("alert")).to_contain_text("refused the sign-in")
    expect(page.get_by_text("Sign in to open that page.")).to_be_visible()
    expect(page).not_to_have_url(re.compile("login_error"))
    assert stored_by_the_page(page) == NOTHING_STORED

    # Signed in at the provider: on the page asked for, which only the address carried.
    page.get_by_role("button", name="Sign in with local").click()
    fill_provider_login(page, "erin", "erin-password")
    expect(heading).to_have_text("API keys")
    assert page.url == f"{stack.base}/#/keys"
    assert stored_by_the_page(page) == NOTHING_STORED

    # A link refused at the provider comes back to the profile, which says why.
    nav(page, "Profile")
    methods = page.get_by_role("region", name="Sign-in methods")
    methods.get_by_role("button", name="Link local").click()
    page.get_by_role("button", name="Deny").click()
    expect(heading).to_have_text("Profile")
    expect(page.get_by_role("alert")).to_contain_text("refused the sign-in")

    # A key made here; signed out, a deep link signs in with it and lands there.
    nav(page, "API keys")
    page.get_by_label("Name", exact=True).fill("erin's script")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("New API key", exact=True)
    expect(new_key).to_have_value(re.compile(r"^uk_"))
    key = new_key.input_value()
    page.get_by_role("button", name="Sign out").click()
    expect(heading).to_have_text("Sign in")
    page.goto(f"{stack.base}/#/history")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(heading).to_have_text("History")
    assert stored_by_the_page(page) == NOTHING_STORED

    # Reloaded, the page still knows its session is that key's, from the service.
    page.reload()
    nav(page, "API keys")
    own = page.locator("table.keys tbody tr", has_text="erin's script")
    own.get_by_role("button", name="Revoke").click()
    expect(own).to_contain_text("this signs you out here")
    own.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Sign out").click()
    expect(heading).to_have_text("Sign in")
    assert stored_by_the_page(page) == NOTHING_STORED
    assert csp_violations(browser_page.console_lines()) == []
