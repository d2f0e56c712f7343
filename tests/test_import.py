"""``manage.py import-users``: the research-data tracker's users export into the tables.

Each test runs the command through ``ops.cli.main`` on fresh moto tables
with the sample export in ``tests/data/tracker_users.json``: five good records
with every ``_id`` form, two whose optional values today's rules refuse
(unknown permission, bad ORCID), and three that cannot be stored (no email, an
email another record of the file has, no ``_id``); or with an export built the
way the tracker builds its users (``tracker_user``).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.http import container
from chalicelib.ids import SYSTEM
from chalicelib.records import apikeys
from chalicelib.storage import models
from chalicelib.storage.models import LogEntry, User
from ops.cli import ProgressBar, main
from ops.importer import COMMENT
from ops.invariants import check
from ops.tracker_export import normalise_id
from tests.conftest import Account
from tests.faults import THROTTLING, inject_faults

SAMPLE = Path(__file__).parent / "data" / "tracker_users.json"
RECORDS: list[dict[str, Any]] = json.loads(SAMPLE.read_text())
# Position in the sample -> the id the imported user gets.
IMPORTED = {
    0: "97c7f0eb56504eb6aedbbd2ecb68f856",  # UUID string with dashes
    1: "2772498ea2f24db0adafff87fc74a4c1",  # upper-case, no dashes
    2: "7d4298752aa9409c84bbb8bbba7e3633",  # {"$uuid": ...}
    3: "1e4c14eb16f44eaf818cc579fb529bbf",  # {"$binary": ..., "subType": "04"}
    4: "6504a12f74655e13af814451",  # {"$oid": ...}
    5: "0183a6c5a7a84b899d4602b1f5c76dbf",  # an unknown permission, dropped
    6: "138ef65e4192455f9c5567af0b1f8aa6",  # an ORCID failing its check digit, cleared
}
AS_EXPORTED = (0, 1, 2, 3, 4)  # imported with every value as the export has it
CHANGES = [
    {
        "index": 5,
        "id": IMPORTED[5],
        "field": "permissions",
        "reason": "kept only known names, once each: ['DATA_EDIT']",
    },
    {
        "index": 6,
        "id": IMPORTED[6],
        "field": "orcid",
        "reason": "cleared: orcid: empty, or dddd-dddd-dddd-dddX with a valid "
        "ISO 7064 11,2 check digit",
    },
]
REJECTED = [
    {
        "index": 7,
        "id": "c02d5e44675841f8bb4d6be19761788d",
        "reason": "InvalidInput: email is required",
    },
    {
        "index": 8,
        "id": "454cf82f1bc7424ba348f5c35ee073fb",
        "reason": "EmailTaken: record 0 of this file has the same email",
    },
    {"index": 9, "id": None, "reason": "InvalidInput: _id is required"},
]
KEY_MATERIAL = [
    record[name] for record in RECORDS for name in ("api_key", "api_salt") if name in record
]

MakeUser = Callable[..., Account]


def summary_of(out: str) -> dict[str, Any]:
    """The summary ``import-users`` prints last, after each record's outcome line."""
    summary: dict[str, Any] = json.loads(out.splitlines()[-1])
    return summary


def outcomes_of(text: str) -> list[dict[str, Any]]:
    """The outcome lines of a report: every line but a summary."""
    lines = [json.loads(line) for line in text.splitlines()]
    return [line for line in lines if "outcome" in line]


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``import-users`` on the sample; the exit code and the printed summary."""
    code = main(["import-users", str(SAMPLE), *args])
    return code, summary_of(capsys.readouterr().out)


def item_counts() -> dict[str, int]:
    """How many items every table holds."""
    return {
        model.Meta.table_name: sum(1 for _ in model.scan(consistent_read=True))
        for model in models.MODELS
    }


def test_good_records_are_imported_with_their_fields_and_normalised_ids(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    for index in AS_EXPORTED:
        record, user = RECORDS[index], User.get(IMPORTED[index], consistent_read=True)
        for name in ("email", "name", "affiliation", "contact", "orcid", "url"):
            assert getattr(user, name) == record.get(name, "")
        assert user.permissions == record.get("permissions", [])
        assert user.auth_ids == (record.get("auth_ids") or [record["email"]])
        assert user.version == 1


def test_summary_counts_the_imported_and_rejected_records(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = run_import(capsys)
    assert code == 1
    assert {k: summary[k] for k in ("imported", "skipped", "rejected", "dry_run")} == {
        "imported": 7,
        "skipped": 0,
        "rejected": 3,
        "dry_run": False,
    }


def test_each_imported_user_has_one_add_entry_by_system_naming_the_import(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    for user_id in IMPORTED.values():
        [entry] = LogEntry.query(user_id, consistent_read=True)
        assert (entry.action, entry.user, entry.comment) == ("add", SYSTEM, COMMENT)
        assert "research-data tracker" in entry.comment
        assert entry.data["id"] == user_id


def test_bad_records_are_reported_with_reasons_and_not_imported(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, summary = run_import(capsys)
    assert summary["rejections"] == REJECTED
    assert sum(1 for _ in User.scan()) == len(IMPORTED)
    for rejection in REJECTED:
        if rejection["id"] is not None:
            assert User.count(rejection["id"]) == 0


def test_email_of_an_existing_user_is_rejected_as_taken(
    make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(email="Carol@example.org")
    _, summary = run_import(capsys)
    assert summary["rejections"][0] == {
        "index": 2,
        "id": IMPORTED[2],
        "reason": "EmailTaken: another user has the email 'carol@example.org'",
    }
    assert User.count(IMPORTED[2]) == 0


def test_second_run_changes_nothing_and_shows_the_records_skipped(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = run_import(capsys)
    counts = item_counts()
    code, second = run_import(capsys)
    assert item_counts() == counts
    assert (code, second["imported"], second["skipped"]) == (1, 0, len(IMPORTED))
    assert second["rejections"] == first["rejections"]


def test_dry_run_writes_nothing(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    before = item_counts()
    code, summary = run_import(capsys, "--dry-run")
    assert item_counts() == before
    assert (code, summary["dry_run"], summary["imported"]) == (1, True, len(IMPORTED))


def test_dry_run_reports_the_same_rejections_as_an_import(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, dry = run_import(capsys, "--dry-run")
    assert dry["rejections"] == REJECTED


def test_dry_run_reports_a_taken_email_as_the_import_would(
    make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(email="Carol@example.org")
    _, dry = run_import(capsys, "--dry-run")
    _, real = run_import(capsys)
    assert dry["rejections"] == real["rejections"]
    assert dry["rejections"][0]["reason"].startswith("EmailTaken:")


def test_dry_run_after_an_import_shows_the_records_skipped(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    _, dry = run_import(capsys, "--dry-run")
    assert (dry["imported"], dry["skipped"]) == (0, len(IMPORTED))


def test_key_material_appears_in_no_output_log_entry_or_item(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(KEY_MATERIAL) == 4
    for args in (["--dry-run"], [], []):
        main(["import-users", str(SAMPLE), *args])
        out, err = capsys.readouterr()
        for secret in KEY_MATERIAL:
            assert secret not in out and secret not in err
    stored = [
        json.dumps(item.attribute_values, default=str)
        for model in models.MODELS
        for item in model.scan(consistent_read=True)
    ]
    assert any(entry.comment == COMMENT for entry in LogEntry.scan())
    for secret in KEY_MATERIAL:
        assert not any(secret in text for text in stored)


def test_imported_user_gets_an_api_key_that_works_on_user_me(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    key = apikeys.make_api_key(SYSTEM, IMPORTED[2], container.settings())["key"]
    response = client.http.get("/api/v1/user/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json_body["user"]["email"] == RECORDS[2]["email"]


def test_user_imported_with_an_object_id_gets_an_api_key_that_works(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    key = apikeys.make_api_key(SYSTEM, IMPORTED[4], container.settings())["key"]
    response = client.http.get("/api/v1/user/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_json_lines_export_imports_the_same_users(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = tmp_path / "users.jsonl"
    lines.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    main(["import-users", str(lines)])
    summary = summary_of(capsys.readouterr().out)
    assert summary["rejections"] == REJECTED
    assert sorted(user.id for user in User.scan()) == sorted(IMPORTED.values())


def test_line_that_is_not_json_is_rejected_at_its_position(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = tmp_path / "users.jsonl"
    lines.write_text(json.dumps(RECORDS[0]) + '\n{"_id": \n' + json.dumps(RECORDS[1]) + "\n")
    code = main(["import-users", str(lines)])
    summary = summary_of(capsys.readouterr().out)
    assert (code, summary["imported"]) == (1, 2)
    assert [(r["index"], r["id"]) for r in summary["rejections"]] == [(1, None)]
    assert summary["rejections"][0]["reason"].startswith("InvalidInput: not valid JSON")


def test_export_without_bad_records_exits_0(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([RECORDS[index] for index in AS_EXPORTED]))
    code = main(["import-users", str(good)])
    assert code == 0
    assert summary_of(capsys.readouterr().out)["rejected"] == 0


def test_unreadable_file_exits_2_and_imports_nothing(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"_id": "x",')
    code = main(["import-users", str(broken)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "cannot read" in err
    assert not list(User.scan())


@pytest.mark.parametrize(
    "raw",
    [
        "1e4c14eb-16f4-4eaf-818c-c579fb529bbf",
        "1E4C14EB16F44EAF818CC579FB529BBF",
        {"$uuid": "1e4c14eb-16f4-4eaf-818c-c579fb529bbf"},
        {"$binary": {"base64": "HkwU6xb0Tq+BjMV5+1Kbvw==", "subType": "04"}},
        {"$binary": {"base64": "HkwU6xb0Tq+BjMV5+1Kbvw==", "subType": "03"}},
        {"$binary": "HkwU6xb0Tq+BjMV5+1Kbvw==", "$type": "04"},
    ],
)
def test_every_uuid_form_normalises_to_the_same_id(raw: Any) -> None:
    assert normalise_id(raw) == "1e4c14eb16f44eaf818cc579fb529bbf"


def test_progress_is_one_line_per_100_records_off_a_terminal(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "many.json"
    export.write_text(json.dumps([{"email": f"u{n}@example.org"} for n in range(250)]))
    main(["import-users", str(export), "--dry-run"])
    assert capsys.readouterr().err.splitlines() == [
        "import-users: 100/250 records",
        "import-users: 200/250 records",
    ]


def test_progress_bar_is_redrawn_in_place_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = ProgressBar(terminal)
    for done in range(1, 4):
        bar(done, 3)
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 3 and drawn.endswith(f"[{'#' * ProgressBar.WIDTH}] 3/3\n")


def test_user_deleted_after_its_import_stays_deleted(
    client: Client, admin: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(capsys)
    deleted = IMPORTED[0]
    response = client.http.delete(f"/api/v1/user/{deleted}", headers=admin.headers)
    assert response.status_code == 204, response.body
    history = [entry.action for entry in LogEntry.query(deleted, consistent_read=True)]
    counts = item_counts()

    _, dry = run_import(capsys, "--dry-run")
    _, again = run_import(capsys)

    assert (dry["imported"], dry["skipped"]) == (0, len(IMPORTED))
    assert (again["imported"], again["skipped"]) == (0, len(IMPORTED))
    assert item_counts() == counts
    assert [entry.action for entry in LogEntry.query(deleted, consistent_read=True)] == history
    assert history == ["add", "delete"]
    assert check() == []


# -- an export as the tracker makes it -------------------------------------------


def tracker_user(**values: Any) -> dict[str, Any]:
    """A user document as the tracker stores it: ``u-`` and a UUID4 as its id,
    every field present, empty strings for what was never set, and its API key
    as a salted hash."""
    return {
        "_id": f"u-{uuid.uuid4()}",
        "affiliation": "",
        "api_key": "9f" * 64,
        "api_salt": "abc",
        "auth_ids": [],
        "email": "",
        "contact": "",
        "name": "",
        "orcid": "",
        "permissions": [],
        "url": "",
        **values,
    }


def tracker_test_users() -> list[dict[str, Any]]:
    """The tracker's own test users: one per set of rights, ORCIDs 1111-1111-1111-111<i>."""
    rights = {
        "Base": [],
        "Edit": ["DATA_EDIT"],
        "Owners": ["OWNERS_READ"],
        "Users": ["USER_MANAGEMENT"],
        "Data": ["DATA_MANAGEMENT"],
        "Root": ["DATA_EDIT", "OWNERS_READ", "USER_ADD", "USER_SEARCH", "USER_MANAGEMENT"],
    }
    return [
        tracker_user(
            name=name,
            permissions=permissions,
            affiliation="Test University",
            email=f"{name}@example.com",
            contact=f"pub_{name}@example.com",
            orcid=f"1111-1111-1111-111{i}",
            auth_ids=[f"{name.lower()}::testers"],
            url="https://www.example.com/specuser",
        )
        for i, (name, permissions) in enumerate(rights.items())
    ]


def import_export(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    export = tmp_path / "users.json"
    export.write_text(json.dumps(records))
    code = main(["import-users", str(export)])
    return code, summary_of(capsys.readouterr().out)


def test_tracker_export_keeps_every_users_id(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = tracker_test_users()
    code, summary = import_export(records, tmp_path, capsys)
    assert (code, summary["imported"], summary["rejected"]) == (0, len(records), 0)
    assert sorted(user.id for user in User.scan()) == sorted(r["_id"] for r in records)
    assert check() == []


def test_tracker_test_users_orcids_failing_the_check_digit_are_cleared_and_listed(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = tracker_test_users()
    _, summary = import_export(records, tmp_path, capsys)
    valid = {"1111-1111-1111-1115"}  # the only one of them whose check digit holds
    cleared = [r for r in records if r["orcid"] not in valid]
    assert [(c["id"], c["field"]) for c in summary["changes"]] == [
        (r["_id"], "orcid") for r in cleared
    ]
    assert summary["changed"] == len(cleared)
    for record in records:
        user = User.get(record["_id"])
        assert user.orcid == (record["orcid"] if record["orcid"] in valid else "")
        assert (user.name, user.email, user.url) == (record["name"], record["email"], record["url"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "www.example.com/no-scheme"),
        ("url", "ftp://example.com/"),
        ("orcid", "0000-0002-1825-009"),
        ("name", "   "),
        ("contact", "a\x00b"),
        ("affiliation", "x" * 1000),
    ],
)
def test_optional_value_that_breaks_todays_rules_is_cleared_and_listed(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, field: str, value: str
) -> None:
    record = tracker_user(email="kept@example.org", **{field: value})
    code, summary = import_export([record], tmp_path, capsys)
    assert (code, summary["imported"]) == (0, 1)
    [change] = summary["changes"]
    assert (change["index"], change["id"], change["field"]) == (0, record["_id"], field)
    assert change["reason"].startswith("cleared: ")
    assert getattr(User.get(record["_id"]), field) == ""


@pytest.mark.parametrize("email", ["", "first last@example.com", "no-at-sign", "a@b::c"])
def test_tracker_user_that_cannot_be_stored_is_reported_never_dropped(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, email: str
) -> None:
    records = [*tracker_test_users(), tracker_user(name="No Address", email=email)]
    code, summary = import_export(records, tmp_path, capsys)
    assert code == 1
    assert summary["imported"] + summary["skipped"] + summary["rejected"] == len(records)
    [rejection] = summary["rejections"]
    assert (rejection["index"], rejection["id"]) == (len(records) - 1, records[-1]["_id"])
    assert rejection["reason"].startswith("InvalidInput: ")
    assert User.count(records[-1]["_id"]) == 0


def test_user_imported_with_a_tracker_id_logs_in_with_a_key_and_a_session(
    client: Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record = tracker_user(email="tracked@example.org", name="Tracked")
    import_export([record], tmp_path, capsys)
    key = apikeys.make_api_key(SYSTEM, record["_id"], container.settings())["key"]
    headers = {"Authorization": f"Bearer {key}"}
    me = client.http.get("/api/v1/user/me", headers=headers)
    assert me.status_code == 200, me.body
    assert me.json_body["user"]["id"] == record["_id"]
    login = client.http.post(
        "/api/v1/login/apikey",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"api-key": key}),
    )
    assert login.status_code == 200, login.body
    cookies = login.headers["Set-Cookie"]
    cookies = [cookies] if isinstance(cookies, str) else cookies
    [session] = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("session=")]
    token = client.http.post(
        "/api/v1/login/token",
        headers={"Cookie": f"session={session}; _csrf_token=c", "X-CSRF-Token": "c"},
    )
    assert token.status_code == 200, token.body
    for path in (f"/user/{record['_id']}/log", f"/user/{record['_id']}/apikeys"):
        assert client.http.get(f"/api/v1{path}", headers=headers).status_code == 200


# -- the report: each record's outcome as it happens --------------------------------


def tracker_record(email: str, **fields: Any) -> dict[str, Any]:
    return {"_id": f"u-{uuid.uuid4()}", "email": email, **fields}


def test_each_records_outcome_is_a_json_line_before_the_summary(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = [
        tracker_record("one@example.org", orcid="1234-5678-9012-3456"),
        {"_id": "u-not-a-uuid", "email": "two@example.org"},
        tracker_record("three@example.org"),
    ]
    import_export(records, tmp_path, capsys)
    main(["import-users", str(tmp_path / "users.json")])
    out = capsys.readouterr().out
    lines = outcomes_of(out)
    assert [(line["index"], line["outcome"]) for line in lines] == [
        (0, "skipped"),
        (1, "rejected"),
        (2, "skipped"),
    ]
    assert all("exists already" in lines[i]["reason"] for i in (0, 2))
    assert summary_of(out)["skips"] == [
        {"index": i, "id": records[i]["_id"], "reason": lines[i]["reason"]} for i in (0, 2)
    ]


def test_dry_run_after_an_import_reports_each_record_skipped(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = [tracker_record("one@example.org", orcid="1234-5678-9012-3456")]
    import_export(records, tmp_path, capsys)
    main(["import-users", str(tmp_path / "users.json"), "--dry-run"])
    (line,) = outcomes_of(capsys.readouterr().out)
    assert line["outcome"] == "skipped"


def test_report_file_takes_the_lines_and_stdout_only_the_summary(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export, report = tmp_path / "users.json", tmp_path / "report.jsonl"
    records = [tracker_record("one@example.org", orcid="1234-5678-9012-3456")]
    export.write_text(json.dumps(records))
    assert main(["import-users", str(export), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and summary_of(out)["imported"] == 1
    (line,) = outcomes_of(report.read_text())
    assert line["outcome"] == "imported"
    assert [change["field"] for change in line["changes"]] == ["orcid"]


def test_a_user_deleted_since_its_import_is_skipped_saying_so(
    client: Client, admin: Account, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = [tracker_record("gone@example.org")]
    import_export(records, tmp_path, capsys)
    deleted = client.http.delete(f"/api/v1/user/{records[0]['_id']}", headers=admin.headers)
    assert deleted.status_code == 204
    _, summary = import_export(records, tmp_path, capsys)
    assert "deleted" in summary["skips"][0]["reason"]


def test_a_storage_fault_stops_the_run_and_the_report_keeps_what_it_did(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    existing = tracker_record("existing@example.org")
    import_export([existing], tmp_path, capsys)
    export, report = tmp_path / "more.json", tmp_path / "report.jsonl"
    first = tracker_record("first@example.org", orcid="1234-5678-9012-3456")
    export.write_text(json.dumps([first, existing, tracker_record("never@example.org")]))
    # Importing ``first`` writes without reading; meeting ``existing`` reads, and fails.
    with inject_faults(share=1.0, kinds=[THROTTLING], only=["GetItem"]):
        code = main(["import-users", str(export), "--report", str(report)])
    assert code == 1
    assert "StorageUnavailable" in capsys.readouterr().err
    lines = outcomes_of(report.read_text())
    assert [line["outcome"] for line in lines] == ["imported", "stopped"]
    assert lines[0]["changes"][0]["field"] == "orcid"
    assert lines[1]["id"] == existing["_id"]
    assert lines[1]["reason"].startswith("StorageUnavailable")


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_json_nested_too_deeply_exits_2(
    aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: str
) -> None:
    deep = '{"_id": ' + "[" * 100_000 + "]" * 100_000 + "}"
    export = tmp_path / "deep.json"
    good = json.dumps(tracker_record("ok@example.org"))
    export.write_text(f"[{deep}]" if layout == "array" else f"{good}\n{deep}\n")
    code = main(["import-users", str(export)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "nested too deeply" in err
    assert not list(User.scan())
