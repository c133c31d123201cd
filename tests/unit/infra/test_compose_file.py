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


def test_the_broker_takes_authenticated_clients_only():
    script = (ROOT / "infra/kafka/docker-kafka.sh").read_text()
    listeners = re.search(r"^listeners=(.*)$", script, re.MULTILINE)
    assert listeners and listeners.group(1) == "SASL_PLAINTEXT://:9092,CONTROLLER://:9093"
    assert "allow.everyone.if.no.acl.found=false" in script
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in script
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["entrypoint"][-1] == "/signalpost/docker-kafka.sh"
    assert any(v.endswith(":/signalpost/docker-kafka.sh:ro") for v in kafka["volumes"])


def test_each_service_container_is_its_own_kafka_user_and_init_the_administrator():
    for name, service in OUR_SERVICES.items():
        env = service["environment"]
        assert env["SIGNALPOST_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        if service["command"][0] == "run":
            assert env["SIGNALPOST_KAFKA_USERNAME"] == f"signalpost-{service['command'][1]}"
            assert "SIGNALPOST_KAFKA_PASSWORD" not in env, f"{name}: reads its local secret"
        else:
            assert env["SIGNALPOST_KAFKA_USERNAME"] == "admin"
        assert "signalpost-secrets:/var/lib/signalpost/secrets" in service["volumes"], name


def test_no_kafka_secret_has_a_default():
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"^\s*(\w*KAFKA\w*PASSWORD):\s*(.*)$", text, re.MULTILINE)
    assert secrets
    for variable, value in secrets:
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{variable} has a default: {value}"


# A compose-time variable that must be set: `docker compose` stops with the message if not.
REQUIRED = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
POSTGRES_URL = re.compile(r"^postgres(?:ql)?://(?P<user>[^:@/]+)(?::(?P<password>.*))?@[^@/]+/")


def _environments():
    for name, service in COMPOSE["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            yield name, variable, str(value)


def test_no_password_is_written_in_the_compose_file():
    for name, variable, value in _environments():
        url = POSTGRES_URL.match(value)
        password = url["password"] if url else value if "PASSWORD" in variable else None
        if password is not None:
            assert REQUIRED.match(password), f"{name} {variable}: a literal password"
    superuser = COMPOSE["services"]["init"]["environment"]["SIGNALPOST_SUPERUSER_DATABASE_URL"]
    postgres = COMPOSE["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert POSTGRES_URL.match(superuser)["password"] == postgres  # the same variable


def test_each_container_holds_only_its_own_roles_url():
    expected = {
        "init": {"SIGNALPOST_SUPERUSER_DATABASE_URL", "SIGNALPOST_DATABASE_URL",
                 "SIGNALPOST_GATEWAY_DATABASE_URL", "SIGNALPOST_OWNER_DATABASE_URL",
                 "SIGNALPOST_AUDITOR_DATABASE_URL"},
        "recorder": {"SIGNALPOST_DATABASE_URL"},
        "gateway": {"SIGNALPOST_GATEWAY_DATABASE_URL"},
        "router": set(),
        "incidents": set(),
        "notifier": set(),
    }  # fmt: skip
    held = {name: set() for name in OUR_SERVICES}
    for name, variable, _ in _environments():
        if variable.endswith("DATABASE_URL") and name in held:
            held[name].add(variable)
    assert held == expected
