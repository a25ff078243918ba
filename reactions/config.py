"""Settings, layered: built-in defaults, then a TOML file, then `REACTIONS_<NAME>` variables.

The file is `reactions.toml` in the working directory, or the path in `REACTIONS_CONFIG`;
it only needs the keys it changes. Every setting can also be set from the environment as
`REACTIONS_<NAME>` (upper case), which wins over the file. Secrets (API keys, passwords)
belong in the environment only, never in the file or the store.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "REACTIONS_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """The configuration file or an environment variable is invalid; the message says where."""


class Settings(BaseSettings):
    """Every setting of the application. See docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    data_dir: Path = Field(Path("data"), description="Where the SQLite database and caches live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; overrides the SQLite file in data_dir."
    )
    seeds_dir: Path = Field(PROJECT_ROOT / "seeds", description="Story definitions (*.toml).")
    demo_story: str = Field("trump-maduro-call", description="Story used by `reactions demo`.")
    encoder_model: str | None = Field(
        None, description="Sentence encoder: a Hugging Face id or path; empty = packaged MiniLM."
    )
    stance_model: str | None = Field(
        None, description="Stance model: a trained dir, HF id or path; empty = packaged default."
    )
    review_threshold: float = Field(
        0.5, ge=0, le=1, description="Predictions less confident than this are flagged for review."
    )
    summary_writer: Literal["template", "local", "openai"] = Field(
        "template", description="Who writes the paragraph: template, local model, or endpoint."
    )
    summary_model: str | None = Field(None, description="Model for the local or endpoint writer.")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint base URL.")
    openai_api_key: SecretStr | None = Field(None, description="Key for that endpoint (env only).")
    # The stance teacher (#15): a chat model labels a sample of a new story's posts. Its
    # settings are apart from the summary writer's: another model, endpoint or key.
    teacher: Literal["off", "openai", "local"] = Field(
        "off", description="Stance teacher: off, an OpenAI-compatible endpoint, or a local model.")
    teacher_url: str | None = Field(None, description="The teacher's OpenAI-compatible base URL.")
    teacher_model: str | None = Field(
        None, description="Teacher model: endpoint model name, or local id, folder or .gguf.")
    teacher_api_key: SecretStr | None = Field(None, description="Key for the teacher's endpoint "
                                              "(env only).")
    teacher_sample: int = Field(64, ge=2, description="Posts of a story the teacher is asked "
                                "about per run; it keeps the confident half.")
    teacher_batch: int = Field(8, ge=1, description="Teacher requests in flight (endpoint) or "
                               "posts per forward pass (local).")
    teacher_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one teacher "
                                           "request.")
    dashboard_port: int = Field(8501, description="Port `reactions dashboard` listens on.")
    dashboard_refresh_seconds: int = Field(30, ge=1, description="Live page refresh period.")
    log_level: str = Field("INFO", description="Logging level.")
    # Email (digests and alerts). The password is read from the environment only.
    smtp_host: str | None = Field(None, description="SMTP server for digests and alerts.")
    smtp_port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port; empty = 587 (starttls), 465 (ssl), 25 (none)."
    )
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="How the SMTP connection is secured: starttls, ssl or none."
    )
    smtp_user: str | None = Field(None, description="SMTP login name, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (env only).")
    smtp_from: str | None = Field(None, description="From address of digests and alerts.")
    alert_check_minutes: int = Field(5, ge=1, description="How often `run` checks alert rules.")
    digest_check_minutes: int = Field(5, ge=1, description="How often `run` looks for due digests.")
    dashboard_url: str | None = Field(None, description="Public dashboard URL linked from mails.")
    # Workers (#17): with a broker, `run` only schedules and `reactions worker` does the work.
    broker_url: str | None = Field(
        None, description="Celery broker (redis://127.0.0.1:6379/0 or amqp://...); empty = "
        "everything runs inside `reactions run`.")
    broker_queue: str = Field("reactions", description="Queue the tasks go through (one per "
                              "deployment sharing a broker).")
    task_visibility_seconds: float = Field(
        3600.0, gt=0, description="Redis broker: a task whose worker died is delivered again "
        "after this many seconds.")
    lease_seconds: float = Field(
        120.0, gt=0, description="How long a source's collection lease lasts unrenewed (a "
        "killed process's lease lapses after this).")
    story_refresh_seconds: float = Field(
        30.0, gt=0, description="How often `run` rereads stories from the store (live edits).")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force: REACTIONS_DATABASE_URL, else SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'reactions.db').as_posix()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Later sources lose: explicit arguments, then the environment, then the file.
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    """Reads the TOML config file, refusing it with the line and reason when it is broken."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if path is None:
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
        section = data.get("reactions", data)
        secrets = sorted(k for k in section if "key" in k or "password" in k)
        if secrets:
            raise ConfigError(
                f"{path}: secrets do not belong in the file ({', '.join(secrets)}); "
                f"set {', '.join(ENV_PREFIX + s.upper() for s in secrets)} in the environment"
            )
        return section


def config_path() -> Path | None:
    """The config file in force, if any: $REACTIONS_CONFIG, else ./reactions.toml when present."""
    explicit = os.environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"REACTIONS_CONFIG names {path}, which does not exist")
        return path
    local = Path("reactions.toml")
    return local if local.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from defaults, the file and the environment; errors name the culprit."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
