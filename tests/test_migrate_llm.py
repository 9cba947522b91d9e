"""`migrate` with an LLM endpoint: the fake OpenAI-compatible server on 127.0.0.1 writes the
custom layer the rules could not map; the model that uses it then converts too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import code, free_port, serve
from typer.testing import CliRunner

from cli import app

SOURCE = '''\
import tensorflow as tf
from tensorflow import keras


class Spectral(keras.layers.Layer):
    """Cumulative log-sum-exp along the features."""

    def call(self, inputs):
        return tf.math.cumulative_logsumexp(inputs, axis=-1)


model = keras.Sequential([keras.Input(shape=(8,)), Spectral(), keras.layers.Dense(4)])
'''

REPLY = '''\
import torch
from torch import nn


class Spectral(nn.Module):
    """Cumulative log-sum-exp along the features."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.logcumsumexp(inputs, dim=-1)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    src.mkdir()
    (src / "spectral.py").write_text(SOURCE)
    return src


def _migrate(src: Path, out: Path, base_url: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, [
        "migrate", str(src), "--out", str(out), "--base-url", base_url, "--api-key", "test",
        "--model", "fake-model", "--no-validate"])
    report = json.loads((out / "report.json").read_text())
    return result.exit_code, report


def test_rules_alone_leave_the_layer_for_a_person(project: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["migrate", str(project), "--out", str(tmp_path / "o"),
                                      "--no-llm", "--no-validate"])
    assert result.exit_code == 1
    f = json.loads((tmp_path / "o" / "report.json").read_text())["files"][0]
    assert f["status"] == "partial"
    assert any(u["qualname"].partition(".")[0] == "Spectral" for u in f["unmapped"])
    assert "TODO(k2l)" in (tmp_path / "o" / "spectral.py").read_text()


def test_llm_writes_the_layer_and_the_model_converts(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve([code(REPLY)]) as fake:
        code_, report = _migrate(project, out, fake.base_url)
        assert len(fake.requests) == 1
    f = report["files"][0]
    assert f["unmapped"] == []
    # the Dense after the layer is lazy, sized by a dry call in __init__: nothing to warn of
    assert f["status"] == "converted" and not f["warnings"], f
    assert f["llm"]["calls"] == 1 and f["llm"]["tokens"] > 0
    assert f["keras_deps_left"] == []  # recomputed for the text the LLM stage wrote
    assert "+class Spectral(nn.Module):" in f["diff"]
    converted = (out / "spectral.py").read_text()
    assert "torch.logcumsumexp" in converted and "keras" not in converted
    assert "self.spectral = Spectral()" in converted  # the model converted on the second pass
    assert (out / "trajectory.jsonl").exists()
    assert code_ == 0  # nothing asks for attention any more
    # a rerun is served from the cache: the server sees no request at all
    with serve([]) as fake:
        _, again = _migrate(project, out, fake.base_url)
        assert fake.requests == []
    assert again["files"][0]["unmapped"] == []
    assert again["files"][0]["llm"]["cache_hits"] == 1


def test_endpoint_down_continues_with_rules(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code_, report = _migrate(project, out, f"http://127.0.0.1:{free_port()}/v1")
    assert code_ == 1
    assert report["files"][0]["status"] == "partial"
    assert any("unreachable" in n or "LLM" in n for n in report["notes"]), report["notes"]


def test_eval_with_llm_reports_pass_at_k(project: Path, tmp_path: Path) -> None:
    """`k2l-agent eval --llm`: the LLM stage runs per case and results.json scores it."""
    out = tmp_path / "eval"
    with serve([code(REPLY)]) as fake:
        result = CliRunner().invoke(app, ["eval", str(project), "--out", str(out), "--llm",
                                          "--base-url", fake.base_url, "--api-key", "test",
                                          "--model", "fake-model"])
        assert len(fake.requests) == 1
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["llm"]["enabled"] is True and doc["llm"]["calls"] == 1
    assert doc["llm"]["tokens"] > 0
    stages = doc["cases"][0]["stages"]
    assert stages["no_keras"]["status"] == "passed"
    # the LLM wrote the layer, the rules the rest (its lazy Dense sized by a dry call)
    assert stages["converted"]["status"] == "passed", stages["converted"]
    assert 0.0 <= doc["llm"]["pass@1"] <= doc["llm"]["pass@k"] <= 1.0
    without = tmp_path / "eval-rules"
    CliRunner().invoke(app, ["eval", str(project), "--out", str(without)])
    assert json.loads((without / "results.json").read_text())["llm"] == {"enabled": False}
