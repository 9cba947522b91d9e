"""Settings of the LLM stage and where they come from.

Precedence, lowest first: defaults < the repository (``[tool.k2l]`` in ``pyproject.toml`` <
``k2l.toml``) < the user's own file (``$K2L_CONFIG``, else
``$XDG_CONFIG_HOME/k2l-agent/config.toml``, else ``~/.config/k2l-agent/config.toml``) <
environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``K2L_MODEL``) < CLI flags. A CLI value
of ``None`` means "flag not given", so a flag only wins when the user typed it.

The repository being migrated is not trusted (it may come from a stranger's pull request):
it may set conversion options only (``REPO_KEYS``), and lower the budgets (``REPO_BUDGETS``)
but never raise them. Where the user's key is sent (``base_url``), the key itself, prices and
every path are taken from the user's file, environment or flags only; a repository value for
them is ignored with a note for the report.
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
    use_tools: bool = True
    cache_dir: Path = Path(".")  # the cache lives in <cache_dir>/.k2l-cache/llm/
    use_cache: bool = True
    trajectory_path: Path | None = None


_FIELDS = {f.name: f for f in dataclasses.fields(LLMConfig)}
_ENV = {"OPENAI_API_KEY": "api_key", "OPENAI_BASE_URL": "base_url", "K2L_MODEL": "model"}
# What a repository's own k2l.toml / [tool.k2l] may set: how to convert, not where to send
# the user's key, what it costs or where files go.
REPO_KEYS: frozenset[str] = frozenset({
    "model", "timeout_s", "max_retries", "max_format_retries", "http_retries", "backoff_s",
    "max_tool_calls", "use_tools", "use_cache"})
REPO_BUDGETS: frozenset[str] = frozenset({"max_tokens_total", "max_cost_usd"})  # lower only


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


def user_config_path(environ: Mapping[str, str]) -> Path | None:
    """The user's own configuration file, from ``environ`` (None when it names none)."""
    if environ.get("K2L_CONFIG"):
        return Path(environ["K2L_CONFIG"]).expanduser()
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "k2l-agent" / "config.toml"
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".config" / "k2l-agent" / "config.toml"
    return None


def _repository(project_root: Path) -> list[tuple[dict[str, Any], str]]:
    """The repository's raw tables, lowest precedence first."""
    tables: list[tuple[dict[str, Any], str]] = []
    pyproject = project_root / "pyproject.toml"
    if pyproject.is_file():
        k2l = _read_toml(pyproject).get("tool", {}).get("k2l", {})
        if isinstance(k2l, dict):
            tables.append((k2l, f"{pyproject} [tool.k2l]"))
    k2l_toml = project_root / "k2l.toml"
    if k2l_toml.is_file():
        tables.append((_read_toml(k2l_toml), str(k2l_toml)))
    return tables


def _untrusted(table: Mapping[str, Any], source: str,
               notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Conversion options and budgets of a repository table; the rest ignored with a note."""
    allowed = {k: v for k, v in table.items() if k.replace("-", "_") in REPO_KEYS}
    budgets = {k: v for k, v in table.items() if k.replace("-", "_") in REPO_BUDGETS}
    for key in sorted(table):
        name = key.replace("-", "_")
        if name in _FIELDS and name not in REPO_KEYS | REPO_BUDGETS:
            notes.append(f"{source}: {key} ignored: the repository may not set it (use your "
                         "own config file, the environment or a flag)")
    return _layer(allowed, source), _layer(budgets, source)


def load_llm_settings(
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> tuple[LLMConfig, tuple[str, ...]]:
    """Merge every source into one :class:`LLMConfig`, and the notes for the report about
    repository values that were ignored (see the module docstring)."""
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    budgets: dict[str, Any] = {}
    notes: list[str] = []
    for table, source in _repository(project_root) if project_root is not None else []:
        allowed, lowered = _untrusted(table, source, notes)
        values.update(allowed)
        budgets.update(lowered)
    user = user_config_path(environ)
    if user is not None and user.is_file():
        values.update(_layer(_read_toml(user), str(user)))
    for var, name in _ENV.items():
        if environ.get(var):
            values[name] = _coerce(name, environ[var], f"environment {var}")
    for key, value in (cli or {}).items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"command line: unknown LLM option {key!r}")
        if value is not None:
            values[name] = _coerce(name, value, f"command line --{name.replace('_', '-')}")
    for name, value in budgets.items():  # the user's own value, when given, wins anyway
        default = _FIELDS[name].default
        if name in values:
            continue
        if value is not None and (default is None or value <= default):
            values[name] = value
        else:
            notes.append(f"repository {name} = {value!r} ignored: a repository may lower a "
                         f"budget, not raise it (default {default!r} kept)")
    return LLMConfig(**values), tuple(notes)


def load_llm_config(
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> LLMConfig:
    """:func:`load_llm_settings` without the notes."""
    return load_llm_settings(project_root, env, cli)[0]
