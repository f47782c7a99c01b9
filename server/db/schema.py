"""The whole schema: every table module imported, for migrations and schema comparisons.

Routes and services import only the model modules they use; anything that needs all tables
in ``metadata`` (Alembic's autogenerate, the migration drift test) imports this instead.
"""

from __future__ import annotations

from server.db import material_models, models, progress_models
from server.db.base import Base

metadata = Base.metadata

__all__ = ["material_models", "metadata", "models", "progress_models"]
