"""The deployment files cannot run here (no docker), so they are checked against the code: the
compose file's services and loopback-only ports, its and the guide's ``lookalike`` commands
parse with this CLI, and the image installs the locked versions on the locked Ray."""

from __future__ import annotations

import re
import shlex

import pytest
import typer
import yaml

from lookalike.cli import app
from lookalike.cli.usage import click_error_types
from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def parses(argv: list[str]) -> None:
    """Raise click's UsageError unless ``lookalike <argv>`` is a valid command line (typer's
    click: parsing only, nothing runs)."""
    group = typer.main.get_command(app)
    with group.make_context("lookalike", list(argv), resilient_parsing=False) as ctx:
        command = group.get_command(ctx, argv[0])
        assert command is not None, f"no command {argv[0]!r}"
        command.make_context(argv[0], argv[1:], parent=ctx)


def test_compose_services_ports_and_commands() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"etcd", "minio", "standalone", "ray-head", "ray-worker", "api"} <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    api = shlex.split(services["api"]["command"])
    assert api[0] == "lookalike"
    parses(api[1:])
    # every Ray node and the API share the workspaces' volume at the same path
    for name in ("ray-head", "ray-worker", "api"):
        assert "shops:/data" in services[name]["volumes"]


def test_the_guide_s_cluster_build_command_parses() -> None:
    guide = (REPO / "docs" / "scale-out.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", guide, flags=re.S)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if "lookalike" in words:
                commands.append(words[words.index("lookalike") + 1 :])
    builds = [c for c in commands if c[0] == "build" and "--engine" in c and "--store" in c]
    assert builds, "the guide shows no cluster build"
    for argv in commands:
        parses(argv)


def test_the_image_installs_the_lock_on_the_locked_ray() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    lock = (REPO / "requirements" / "constraints.txt").read_text()
    ray = re.search(r"^ray==(\S+)$", lock, flags=re.M)
    assert ray is not None
    assert f"FROM rayproject/ray:{ray.group(1)}-py311-cpu" in dockerfile
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("-c requirements/constraints.txt" in line for line in installs)


def test_a_wrong_option_in_a_command_is_caught() -> None:
    with pytest.raises(click_error_types().usage):
        parses(["build", "/data/shops/demo", "--engine", "ray", "--no-such-option"])
