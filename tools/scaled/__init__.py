"""The scaled-out stack on one machine: PostgreSQL, Redis, a Chroma server, N Rasa
servers, N app instances and nginx in front, all on 127.0.0.1 (docs/operations.md).

`python -m tools.scaled run` (what `make run-scaled` calls) starts everything, prints
the URLs and stops everything on Ctrl-C. Tests and benchmarks use `ScaledStack`:
each process is a `Service` with start(), stop(), kill() and the ports it uses, so
a fault test can kill one Rasa or restart PostgreSQL and start it again.

    stack = ScaledStack(data_dir, model, ports=Ports.free())
    stack.start()
    stack.services["rasa1"].kill(); stack.services["rasa1"].start(); ...
    stack.stop()

Modules: `services.py` (a process of the stack, its directories), `postgres.py`
(the database server and databases), `stack.py` (ports, start order, nginx's
configuration from the template `nginx.conf`), `__main__.py` (the command).
"""

from tools.scaled.postgres import (
    APP_DB,
    DB_USER,
    RASA_DB,
    create_databases,
    find_postgres_bindir,
    pg_bin,
    postgres_service,
)
from tools.scaled.services import HOST, Service, free_port, process_rss, scratch_dirs
from tools.scaled.stack import Ports, ScaledStack, missing_binaries, render_nginx_conf

__all__ = [
    "APP_DB",
    "DB_USER",
    "HOST",
    "RASA_DB",
    "Ports",
    "ScaledStack",
    "Service",
    "create_databases",
    "find_postgres_bindir",
    "free_port",
    "missing_binaries",
    "pg_bin",
    "postgres_service",
    "process_rss",
    "render_nginx_conf",
    "scratch_dirs",
]
