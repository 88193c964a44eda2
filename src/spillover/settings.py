"""User settings, read from ``SPILLOVER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SpilloverSettings(BaseSettings):
    """Where spillover keeps its database, scratch files and extra presets.

    Every field can be set with an environment variable ``SPILLOVER_<FIELD>``,
    e.g. ``SPILLOVER_DB=/scratch/me/spillover-db``.
    """

    model_config = SettingsConfigDict(env_prefix="SPILLOVER_", extra="ignore")

    db: str = Field(
        "spillover-db",
        description="Results database: a directory (embedded MontyStore on sqlite, created on "
        "first write) or a JobStore YAML/JSON config file (e.g. MongoDB; see configs/).",
    )
    scratch: Path = Field(
        Path("spillover-scratch"),
        description="Directory under which each local job runs (calculator output files).",
    )
    preset_path: list[Path] = Field(
        default_factory=list,
        description="Extra directories searched for preset YAML files before the built-in ones.",
    )


def get_settings() -> SpilloverSettings:
    """Read the settings afresh from the environment."""
    return SpilloverSettings()
