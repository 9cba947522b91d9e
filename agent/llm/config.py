"""Settings of the LLM stage and where they come from.

Precedence, lowest first: defaults < ``[tool.k2l]`` in ``pyproject.toml`` < ``k2l.toml`` (both
in the project root; the dedicated file is the more specific one) < environment
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``K2L_MODEL``) < CLI flags. A CLI value of ``None``
means "flag not given", so a flag only wins when the user typed it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib  # type: ignore[no-redef]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the source."""


@dataclass(frozen=True)
class LLMConfig:
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3  # repair rounds after a failing check
    max_format_retries: int = 2  # re-asks after a reply without a parseable code block
    http_retries: int = 4  # retries of one request on 429 / 5xx / timeout / connection error
    backoff_s: float = 1.0  # first backoff; doubles per retry, capped at 30 s
    max_tokens_total: int = 200_000  # per run, prompt + completion
    max_cost_usd: float | None = None
    usd_per_mtok_prompt: float = 0.0  # prices, for the cost budget
    usd_per_mtok_completion: float = 0.0
    max_tool_calls: int = 6  # per round, when the endpoint supports tools
    context_tokens: int | None = None  # the endpoint's context window; prompts are trimmed to fit
    use_tools: bool = True
    cache_dir: Path = Path(".")  # the cache lives in <cache_dir>/.k2l-cache/llm/
    use_cache: bool = True
    trajectory_path: Path | None = None


_FIELDS = {f.name: f for f in dataclasses.fields(LLMConfig)}
_ENV = {"OPENAI_API_KEY": "api_key", "OPENAI_BASE_URL": "base_url", "K2L_MODEL": "model"}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Check a raw value against the field's type, so a typo fails with its source named."""
    kind = _FIELDS[name].type
    kind = kind if isinstance(kind, str) else str(kind)
    optional = "None" in kind
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {name} may not be empty")
    try:
        if kind.startswith("Path"):
            return Path(str(value))
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
                return value.lower() in ("1", "true", "yes")
            raise ValueError(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(value, str):
            return value
        raise ValueError(value)
    except ValueError:
        raise ConfigError(f"{source}: {name} = {value!r} is not a valid {kind}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def _layer(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Known LLM keys of a table; other keys belong to other parts of k2l and are left alone."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in _FIELDS:
            out[name] = _coerce(name, value, source)
    return out


def load_llm_config(
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> LLMConfig:
    """Merge every source into one :class:`LLMConfig` (see the module docstring)."""
    values: dict[str, Any] = {}
    if project_root is not None:
        pyproject = project_root / "pyproject.toml"
        if pyproject.is_file():
            k2l = _read_toml(pyproject).get("tool", {}).get("k2l", {})
            if isinstance(k2l, dict):
                values.update(_layer(k2l, f"{pyproject} [tool.k2l]"))
        k2l_toml = project_root / "k2l.toml"
        if k2l_toml.is_file():
            values.update(_layer(_read_toml(k2l_toml), str(k2l_toml)))
    environ = os.environ if env is None else env
    for var, name in _ENV.items():
        if environ.get(var):
            values[name] = _coerce(name, environ[var], f"environment {var}")
    for key, value in (cli or {}).items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"command line: unknown LLM option {key!r}")
        if value is not None:
            values[name] = _coerce(name, value, f"command line --{name.replace('_', '-')}")
    return LLMConfig(**values)
