"""Alembic environment for the run store, driven from code (no alembic.ini).

:func:`agents_magic.store._db.upgrade` passes an open connection in
``config.attributes["connection"]``; the migrations run inside that connection's transaction.
"""

from __future__ import annotations

from alembic import context

from agents_magic.store._schema import metadata

VERSION_TABLE = "agents_magic_version"


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - SQL scripts are not part of the workflow
    raise SystemExit("agents_magic migrations run online only")
run_migrations_online()
