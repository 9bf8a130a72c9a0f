"""What names one life of the database, for the versions kept pages are filed under.

A kept page is filed under counters that writers raise under a row lock (`portal.caching`). A
restore winds those counters back, so a counter alone could name two different states of the
data: the one a process rendered before the restore and the one written after it. Every
version therefore also carries the database's generation, read in the same statement as the
counters, and a restore changes it:

- `cache_generation` holds one row with a random token, written by the migration that made it;
- on PostgreSQL the generation also takes that row's `xmin` (the transaction that wrote it:
  `pg_restore --clean`, a restore into a new database or a data-only reload all write it
  anew) and `pg_postmaster_start_time()` (a physical restore or a failover starts a server).

On SQLite a restore replaces the file, which needs the portal stopped anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import FunctionElement

from portal.models.base import Base


class CacheGeneration(Base):
    """The one row whose token (and, on PostgreSQL, whose writing) names this database."""

    __tablename__ = "cache_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<CacheGeneration {self.token}>"


class database_generation(FunctionElement[str]):  # noqa: N801 - used like a SQL function
    """A scalar naming this life of the database; see the module docstring."""

    type = sa.String()
    inherit_cache = True


@compiles(database_generation)
def _generation_default(element: database_generation, compiler: object, **kw: object) -> str:
    return "(SELECT token FROM cache_generation WHERE id = 1)"


@compiles(database_generation, "postgresql")
def _generation_postgresql(element: database_generation, compiler: object, **kw: object) -> str:
    return (
        "(SELECT token || ':' || xmin::text || ':' || "
        "extract(epoch FROM pg_postmaster_start_time())::text "
        "FROM cache_generation WHERE id = 1)"
    )
