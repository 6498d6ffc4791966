"""The scaled stack finds PostgreSQL's server programs in any version."""

from __future__ import annotations

from pathlib import Path

from tools.scaled import find_postgres_bindir


def server(bindir: Path) -> Path:
    bindir.mkdir(parents=True)
    for name in ("postgres", "initdb"):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return bindir


def no_pg_config(tmp_path: Path) -> str:
    return str(tmp_path / "absent-pg_config")


def test_the_newest_debian_server_of_any_version(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    server(lib / "9.6" / "bin")
    newest = server(lib / "16" / "bin")
    server(lib / "13" / "bin")
    (lib / "17" / "bin").mkdir(parents=True)  # client only: no server programs
    env = {"PATH": str(tmp_path / "empty")}
    assert find_postgres_bindir(env, lib, no_pg_config(tmp_path)) == newest


def test_pg_config_bindir_comes_first(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    server(lib / "16" / "bin")
    chosen = server(tmp_path / "opt" / "pg" / "bin")
    pg_config = tmp_path / "pg_config"
    pg_config.write_text(f"#!/bin/sh\necho {chosen}\n")
    pg_config.chmod(0o755)
    assert find_postgres_bindir({"PATH": ""}, lib, str(pg_config)) == chosen
    # A pg_config whose bindir has no server (a client-only install) is passed over.
    pg_config.write_text(f"#!/bin/sh\necho {tmp_path}\n")
    assert find_postgres_bindir({"PATH": ""}, lib, str(pg_config)) == lib / "16" / "bin"


def test_environment_then_path_then_nothing(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    absent = no_pg_config(tmp_path)
    assert find_postgres_bindir({"GUICHET_PG_BIN": "/x/bin"}, lib, absent) == Path("/x/bin")
    on_path = server(tmp_path / "usr" / "bin")
    assert find_postgres_bindir({"PATH": str(on_path)}, lib, absent) == on_path
    assert find_postgres_bindir({"PATH": str(tmp_path / "empty")}, lib, absent) is None


def test_this_machine_has_one() -> None:
    found = find_postgres_bindir()
    assert found is not None and (found / "postgres").is_file()
