"""Static group membership: one id per service instance, carried by every group consumer."""

from __future__ import annotations

import pytest

from infra.spawn import static_membership
from schemas.registry import load_registry
from services.incidents import service as incidents
from services.incidents.policy import Policy
from services.incidents.settings import IncidentSettings
from services.recorder import service as recorder_service
from services.recorder.settings import RecorderSettings
from services.router import service as router_service
from services.router.settings import RouterSettings
from services.runtime.settings import Settings

pytestmark = pytest.mark.unit


def test_each_service_gets_its_own_id_on_this_host_and_the_settings_take_it():
    ids = {name: static_membership(name)["SIGNALPOST_KAFKA_GROUP_INSTANCE_ID"]
           for name in ("router", "incidents", "recorder")}  # fmt: skip
    assert len(set(ids.values())) == 3
    for value in ids.values():
        assert Settings(kafka_group_instance_id=value).kafka_group_instance_id == value


def test_an_id_with_a_space_or_a_slash_is_refused():
    for bad in ("a b", "a/b", ""):
        with pytest.raises(ValueError, match="kafka_group_instance_id"):
            Settings(kafka_group_instance_id=bad)


async def test_the_router_and_the_recorder_join_their_groups_with_the_id():
    router = router_service.build(RouterSettings(kafka_group_instance_id="host-router"))
    recorder = recorder_service.build(RecorderSettings(kafka_group_instance_id="host-recorder"))
    assert router.consumer._group_instance_id == "host-router"
    assert recorder.consumer._group_instance_id == "host-recorder"
    assert (
        router_service.build(RouterSettings()).consumer._group_instance_id is None
    )  # dynamic by default


def test_the_incident_manager_joins_its_group_with_the_id():
    settings = IncidentSettings(kafka_group_instance_id="host-incidents")
    app = incidents.build(settings, policy=Policy.from_registry(load_registry()))
    assert app.conf.consumer_group_instance_id == "host-incidents"
