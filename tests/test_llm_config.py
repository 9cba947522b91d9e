"""Where LLM settings come from and which source wins (agent/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.config import ConfigError, LLMConfig, load_llm_config


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_defaults_without_any_source(tmp_path: Path) -> None:
    cfg = load_llm_config(tmp_path, env={}, cli={})
    assert cfg == LLMConfig()
    assert cfg.max_retries == 3 and cfg.max_format_retries == 2 and cfg.use_cache


def test_precedence_defaults_pyproject_k2ltoml_env_cli(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.k2l]\nmodel = "from-pyproject"\nbase_url = "http://pyproject/v1"\n'
        'timeout_s = 5\nmax_retries = 7\nmax-tokens-total = 1000\nrules = "other section key"\n',
    )
    write(tmp_path / "k2l.toml", 'model = "from-k2l-toml"\nmax_retries = 5\n')
    env = {"K2L_MODEL": "from-env", "OPENAI_API_KEY": "env-key"}
    cli = {"model": "from-cli", "max_retries": None, "use_cache": False}
    cfg = load_llm_config(tmp_path, env=env, cli=cli)
    assert cfg.model == "from-cli"  # cli > env > k2l.toml > pyproject
    assert cfg.api_key == "env-key"  # env > default
    assert cfg.max_retries == 5  # k2l.toml > pyproject; a None flag is "not given"
    assert cfg.base_url is None  # a repository may not choose where the key goes
    assert cfg.timeout_s == 5.0 and isinstance(cfg.timeout_s, float)
    assert cfg.max_tokens_total == 1000  # dashed keys accepted
    assert cfg.use_cache is False  # --no-cache

    without_cli = load_llm_config(tmp_path, env=env, cli={})
    assert without_cli.model == "from-env"
    without_env = load_llm_config(tmp_path, env={}, cli={})
    assert without_env.model == "from-k2l-toml" and without_env.api_key is None


def test_env_base_url_overrides_files(tmp_path: Path) -> None:
    write(tmp_path / "k2l.toml", 'base_url = "http://file/v1"\n')
    cfg = load_llm_config(tmp_path, env={"OPENAI_BASE_URL": "http://env/v1"})
    assert cfg.base_url == "http://env/v1"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("max_retries = 'many'\n", "max_retries = 'many'"),
        ("use_cache = 3\n", "use_cache"),
        ("model = [1\n", "not valid TOML"),
    ],
)
def test_bad_values_name_their_source(tmp_path: Path, text: str, match: str) -> None:
    write(tmp_path / "k2l.toml", text)
    with pytest.raises(ConfigError, match=match) as info:
        load_llm_config(tmp_path, env={})
    assert "k2l.toml" in str(info.value)


def test_unknown_cli_option_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown LLM option"):
        load_llm_config(tmp_path, env={}, cli={"modle": "x"})
