"""botocore's endpoints.json cut to DynamoDB: the same file botocore would give,
and the same endpoints from it."""

from __future__ import annotations

import itertools
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import BotoCoreError
from botocore.regions import EndpointResolver

from chalicelib.storage import models
from chalicelib.storage.models import SERVICE, TRIMMED_DATA
from devtools import dynamodb_endpoints

WHOLE = dynamodb_endpoints.builtin_endpoints()
CUT = dynamodb_endpoints.trimmed(WHOLE)
REGIONS = sorted(
    {region for partition in WHOLE["partitions"] for region in partition["regions"]}
    | {"eu-north-9", "us-gov-east-7", "cn-west-5"}  # regions botocore does not list yet
)


def test_committed_file_is_the_installed_botocores_cut_to_dynamodb() -> None:
    committed = (TRIMMED_DATA / "endpoints.json").read_text("utf-8")
    # On a botocore upgrade that changes them: python -m devtools.dynamodb_endpoints
    assert committed == dynamodb_endpoints.text(CUT)


def test_the_cut_keeps_every_partition_and_only_dynamodb() -> None:
    assert [p["partition"] for p in CUT["partitions"]] == [
        p["partition"] for p in WHOLE["partitions"]
    ]
    for whole, cut in zip(WHOLE["partitions"], CUT["partitions"], strict=True):
        assert {k: v for k, v in cut.items() if k != "services"} == {
            k: v for k, v in whole.items() if k != "services"
        }
        assert cut["services"] == {SERVICE: whole["services"][SERVICE]}
    assert len(dynamodb_endpoints.text(CUT)) < len(dynamodb_endpoints.text(WHOLE)) / 50


def _endpoint(resolver: EndpointResolver, region: str, **variant: bool) -> Any:
    """What ``resolver`` says of DynamoDB in ``region``: an endpoint, or the error raised."""
    try:
        return resolver.construct_endpoint(SERVICE, region, **variant)
    except BotoCoreError as exc:
        return (type(exc), str(exc))


@pytest.mark.parametrize(("dualstack", "fips"), list(itertools.product([False, True], repeat=2)))
def test_every_region_resolves_to_the_same_dynamodb_endpoint(dualstack: bool, fips: bool) -> None:
    whole, cut = EndpointResolver(WHOLE, True), EndpointResolver(CUT, True)
    variant = {"use_dualstack_endpoint": dualstack, "use_fips_endpoint": fips}
    answers = [_endpoint(whole, region, **variant) for region in REGIONS]
    assert [_endpoint(cut, region, **variant) for region in REGIONS] == answers
    assert any(isinstance(answer, dict) for answer in answers)
    for region in REGIONS:
        assert cut.get_partition_for_region(region) == whole.get_partition_for_region(region)


@pytest.mark.parametrize(
    ("region", "fips"),
    [("eu-north-1", False), ("us-east-1", True), ("us-gov-west-1", False), ("cn-north-1", False)],
)
def test_the_services_client_reads_the_cut_file_and_chooses_botocores_endpoint(
    aws: None, region: str, fips: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fips:
        monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    ours = models._Connection(region=region)
    loader = ours.session.get_component("data_loader")
    _, path = loader.load_data_with_path("endpoints")
    assert path == str(TRIMMED_DATA / "endpoints")
    assert loader.is_builtin_path(path)  # the client's endpoint rules decide, as with botocore's
    plain: Any = botocore.session.get_session().create_client(SERVICE, region_name=region)
    client: Any = ours.client
    assert client.meta.endpoint_url == plain.meta.endpoint_url
    assert client.meta.region_name == plain.meta.region_name
