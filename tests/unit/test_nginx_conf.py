"""nginx's configuration of the scaled stack, rendered from tools/scaled/nginx.conf."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.system import require_program
from tools.scaled import HOST, Ports, ScaledStack, render_nginx_conf, scratch_dirs
from tools.scaled.stack import NGINX_TEMPLATE


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory; as root, nginx's run directory may be made under /tmp (where
    www-data can reach it): removed afterwards."""
    yield tmp_path
    for path in scratch_dirs(tmp_path):
        shutil.rmtree(path, ignore_errors=True)


def test_every_placeholder_is_filled_and_nginx_braces_are_kept(data_dir: Path) -> None:
    ports = Ports.fixed(public=18080, apps=2, rasas=3)
    service = ScaledStack(data_dir, data_dir / "model.tar.gz", ports)._nginx()
    conf = Path(service.command[service.command.index("-c") + 1]).read_text()
    assert "{{" not in conf and "}}" not in conf
    assert "events { worker_connections 4096; }" in conf
    assert "map $http_upgrade $connection_upgrade { default upgrade; '' close; }" in conf
    for port in (ports.public, ports.rasa_lb, ports.actions_lb):
        assert f"listen {HOST}:{port};" in conf
    upstreams = [*(p for p, _ in ports.apps), *ports.rasas, *(a for _, a in ports.apps)]
    for port in upstreams:
        assert f"        server {HOST}:{port} max_fails=1 fail_timeout=2s;\n" in conf
    assert conf.count(" max_fails=1 ") == len(upstreams) == 7


def test_a_missing_value_is_an_error() -> None:
    with pytest.raises(KeyError, match="actions_lb"):
        render_nginx_conf(
            {"run": "/r", "user_line": "", "host": HOST, "public": 1, "rasa_lb": 2}
            | {"apps": "", "rasas": "", "actions": ""}
        )
    assert "{{ actions_lb }}" in NGINX_TEMPLATE.read_text()


def test_nginx_accepts_the_rendered_configuration(data_dir: Path) -> None:
    require_program("nginx", "nginx")
    service = ScaledStack(data_dir, data_dir / "model.tar.gz", Ports.free())._nginx()
    check = subprocess.run(
        [*service.command, "-t"], capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr
