"""User settings, read from ``SPILLOVER_*`` environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from spillover.errors import InputError


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
    preset_path: str = Field(
        "",
        description="Extra directories searched for preset YAML files before the built-in ones: a list in the "
        "form of PATH (separated by ':') or a JSON list of paths.",
    )

    def preset_dirs(self) -> list[Path]:
        """The directories of ``preset_path``, in order.

        Raises
        ------
        InputError
            A JSON list that is not a list of strings, or a directory that does not exist.
        """
        text = self.preset_path.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise InputError("SPILLOVER_PRESET_PATH", "is not a valid JSON list",
                                 "directories separated by ':' or a JSON list of paths") from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise InputError("SPILLOVER_PRESET_PATH", "must be a list of directory paths")
        else:
            items = [i for i in text.split(os.pathsep) if i]
        dirs = [Path(i).expanduser() for i in items]
        for d in dirs:
            if not d.is_dir():
                raise InputError("SPILLOVER_PRESET_PATH", f"{str(d)[:200]} is not a directory",
                                 "existing directories of preset YAML files")
        return dirs


def get_settings() -> SpilloverSettings:
    """Read the settings afresh from the environment.

    Raises
    ------
    InputError
        A ``SPILLOVER_*`` variable that does not parse (named, one line).
    """
    try:
        return SpilloverSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "SPILLOVER_" + str(err["loc"][0]).upper() if err.get("loc") else "SPILLOVER_*"
        raise InputError(name, err["msg"]) from None
