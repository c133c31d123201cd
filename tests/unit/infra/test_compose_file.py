"""docker-compose.yml cannot be run here (no Docker engine), so its structure is checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra.kafka.local import kafka_version
from infra.settings import StackSettings
from services.cli.main import build_parser
from services.cli.runnable import SERVICES, service_module
from services.runtime.settings import env_var_name

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OUR_SERVICES = {n: s for n, s in COMPOSE["services"].items() if s.get("build") == "."}


def known_variables(command: list[str]) -> set[str]:
    """The variables the settings class of a container's command reads."""
    args = build_parser().parse_args(command)
    cls = service_module(args.service).settings_class if args.command == "run" else StackSettings
    return {env_var_name(cls, name) for name in cls.model_fields}


def test_every_signalpost_container_runs_a_real_command():
    assert OUR_SERVICES, "no container is built from the Dockerfile"
    for name, service in OUR_SERVICES.items():
        args = build_parser().parse_args(service["command"])
        if args.command == "run":
            assert args.service in SERVICES, f"{name} runs unknown service {args.service}"


def test_every_service_in_the_code_has_a_container():
    commands = {tuple(s["command"]) for s in OUR_SERVICES.values()}
    for service in SERVICES:
        assert ("run", service) in commands, f"no container runs `signalpost run {service}`"


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_environment_names_only_settings_that_exist(name):
    variables = set(OUR_SERVICES[name]["environment"])
    known = known_variables(OUR_SERVICES[name]["command"])
    assert variables, f"{name} has no environment"
    assert variables <= known, variables - known


def test_kafka_image_matches_the_pinned_version():
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{kafka_version()}"


def test_dockerfile_entrypoint_is_the_console_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["signalpost"\]$', dockerfile, re.MULTILINE)
    assert 'signalpost = "services.cli.main:main"' in (ROOT / "pyproject.toml").read_text()
