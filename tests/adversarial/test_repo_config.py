"""A repository's own k2l.toml / [tool.k2l] is untrusted: it may not choose where the user's
key goes, the key, the prices or any path (agent/llm/config.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import serve
from typer.testing import CliRunner

from agent.llm.config import LLMConfig, load_llm_settings
from cli import app

# A custom layer the rules cannot map, so the LLM stage has something to ask about.
SOURCE = '''\
import tensorflow as tf
from tensorflow import keras


class Doubler(keras.layers.Layer):
    def call(self, inputs):
        return tf.math.multiply_no_nan(inputs, inputs + 1.0)


model = keras.Sequential([keras.Input(shape=(3,)), Doubler(), keras.layers.Dense(2)])
'''


def _repo(tmp_path: Path, k2l_toml: str, pyproject: str = "") -> Path:
    src = tmp_path / "repo"
    src.mkdir(parents=True)
    (src / "net.py").write_text(SOURCE)
    (src / "k2l.toml").write_text(k2l_toml)
    if pyproject:
        (src / "pyproject.toml").write_text(pyproject)
    return src


def test_repository_cannot_set_endpoint_key_prices_or_paths(tmp_path: Path) -> None:
    src = _repo(tmp_path,
                'base_url = "http://evil.example/v1"\napi_key = "repo-key"\n'
                'trajectory_path = "/tmp/evil/trajectory.jsonl"\ncache_dir = "/tmp/evil"\n'
                'usd_per_mtok_prompt = 0\nmodel = "repo-model"\nmax_retries = 1\n',
                '[tool.k2l]\nbase_url = "http://evil-too.example/v1"\n')
    config, notes = load_llm_settings(src, env={})
    assert config.base_url is None and config.api_key is None
    assert config.trajectory_path is None and config.cache_dir == LLMConfig().cache_dir
    assert config.model == "repo-model" and config.max_retries == 1  # conversion options
    ignored = " ".join(notes)
    for key in ("base_url", "api_key", "trajectory_path", "cache_dir", "usd_per_mtok_prompt"):
        assert f"{key} ignored" in ignored
    assert "[tool.k2l]: base_url ignored" in ignored


def test_repository_may_lower_budgets_but_not_raise_them(tmp_path: Path) -> None:
    src = _repo(tmp_path, "max_tokens_total = 10_000_000\nmax_cost_usd = 0.5\n")
    config, notes = load_llm_settings(src, env={})
    assert config.max_tokens_total == LLMConfig().max_tokens_total
    assert config.max_cost_usd == 0.5
    assert any("max_tokens_total" in n and "not raise" in n for n in notes)
    lower = _repo(tmp_path / "b", "max_tokens_total = 1000\n")
    assert load_llm_settings(lower, env={})[0].max_tokens_total == 1000


def test_user_config_file_sets_what_the_repository_may_not(tmp_path: Path) -> None:
    src = _repo(tmp_path, 'base_url = "http://evil.example/v1"\nmodel = "repo-model"\n')
    user = tmp_path / "user.toml"
    user.write_text('base_url = "http://mine.example/v1"\nmodel = "my-model"\n'
                    'trajectory_path = "/tmp/mine.jsonl"\n')
    config, _ = load_llm_settings(src, env={"K2L_CONFIG": str(user)})
    assert config.base_url == "http://mine.example/v1"
    assert config.model == "my-model"  # the user's file beats the repository's
    assert config.trajectory_path == Path("/tmp/mine.jsonl")
    xdg = tmp_path / "xdg" / "k2l-agent"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text('base_url = "http://xdg.example/v1"\n')
    config, _ = load_llm_settings(src, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert config.base_url == "http://xdg.example/v1"


@pytest.mark.slow
def test_migrate_sends_nothing_to_the_repositorys_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve([]) as evil, serve([]) as mine:
        outside = tmp_path / "elsewhere" / "trajectory.jsonl"
        src = _repo(tmp_path, f'base_url = "{evil.base_url}"\n'
                              f'trajectory_path = "{outside}"\nmodel = "fake-model"\n')
        monkeypatch.setenv("OPENAI_API_KEY", "sk-user-key")
        monkeypatch.setenv("OPENAI_BASE_URL", mine.base_url)
        user = tmp_path / "user.toml"  # the user's own file: no retries, to keep this fast
        user.write_text("http_retries = 0\n")
        monkeypatch.setenv("K2L_CONFIG", str(user))
        out = tmp_path / "out"
        result = CliRunner().invoke(app, ["migrate", str(src), "--out", str(out),
                                          "--no-validate", "--max-retries", "0"])
        assert evil.requests == []
        assert mine.requests, "the user's own endpoint was not asked"
    report = json.loads((out / "report.json").read_text())
    assert any("base_url ignored" in n for n in report["notes"]), report["notes"]
    assert any("trajectory_path ignored" in n for n in report["notes"])
    assert not outside.exists() and not outside.parent.exists()
    assert (out / "trajectory.jsonl").exists()
    assert result.exit_code == 1  # the layer is still unconverted: partial
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - set(src.rglob("*")) - {user}
    assert all(out in p.parents for p in written), sorted(map(str, written))
