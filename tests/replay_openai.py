"""Replays the reply corpus of tests/llm_replay/ as an OpenAI-compatible endpoint.

Each case (``cases/<name>.toml``) names a Keras script in ``sources/`` and the replies a model
gave, per piece, in the styles real models answer in. The reply to a request is chosen from
the request alone: the file and piece named in its first user message, and the number of
assistant turns already in its history. So the replay is stateless: it serves any order of
requests, parallel runs and reruns alike, and a request the corpus does not hold is an
HTTP 500 naming it.

Run it by hand to point ``k2l-agent eval --llm`` at it::

    python tests/replay_openai.py --port 8765 --cases-out /tmp/replay-cases
    k2l-agent eval /tmp/replay-cases --out /tmp/replay-eval --llm \\
        --base-url http://127.0.0.1:8765/v1 --model replay --api-key none
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_openai import Scripted, error, serve, text, tool_call

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent / "llm_replay"
_PIECE = re.compile(r"Convert the (?:piece|training code) `([^`]+)` of `([^`]+)`")


@dataclass(frozen=True)
class Reply:
    piece: str
    content: str = ""
    tool: str | None = None  # a function call instead of text
    code: str = ""  # the call's ``code`` argument


@dataclass(frozen=True)
class Case:
    name: str
    source: str  # file name under sources/
    style: str
    requests: int  # requests the LLM stage makes for this case
    retries: int  # format re-asks and repair rounds among them
    status: str  # the file's status after the stage
    replies: tuple[Reply, ...]
    tools: bool = True  # False: the endpoint rejects requests that carry tools
    note: str = ""  # a text the run's report notes must contain
    told: str = ""  # a text the stage's last message to the model must contain (a re-ask)

    @property
    def keras_source(self) -> str:
        return (ROOT / "sources" / self.source).read_text(encoding="utf-8")

    @property
    def expected(self) -> str:
        return (ROOT / "expected" / f"{self.name}.py").read_text(encoding="utf-8")


def load_cases() -> list[Case]:
    cases = []
    for path in sorted((ROOT / "cases").glob("*.toml")):
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        replies = tuple(Reply(**r) for r in data.pop("reply"))
        cases.append(Case(name=path.stem, replies=replies, **data))
    return cases


def _answer(reply: Reply, n: int) -> Scripted:
    if reply.tool is not None:
        return tool_call(reply.tool, {"code": reply.code}, call_id=f"call_{n}")
    return text(reply.content, prompt_tokens=400, completion_tokens=max(1, len(reply.content) // 4))


def responder(by_file: dict[str, Case]) -> Any:
    """A fake_openai responder serving ``by_file`` (file name in the prompt -> case)."""

    def respond(request: dict[str, Any]) -> Scripted:
        messages = request["json"].get("messages", [])
        first = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        found = _PIECE.search(first)
        if found is None:
            return error(500, "replay: no piece named in the first user message")
        piece, file = found.groups()
        case = by_file.get(Path(file).name)
        if case is None:
            return error(500, f"replay: no case for file {file}")
        if not case.tools and request["json"].get("tools"):
            return error(400, "this model does not support tools")
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        replies = [r for r in case.replies if r.piece == piece]
        if turn >= len(replies):
            return error(500, f"replay: case {case.name} has no reply {turn + 1} for {piece}")
        return _answer(replies[turn], turn)

    return respond


def write_cases(out: Path, cases: list[Case]) -> dict[str, Case]:
    """One Keras script per case, named after the case (for ``eval``); the routing table."""
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        shutil.copyfile(ROOT / "sources" / case.source, out / f"{case.name}.py")
    return {f"{case.name}.py": case for case in cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cases-out", type=Path, required=True)
    args = parser.parse_args()
    table = write_cases(args.cases_out, load_cases())
    with serve(responder=responder(table), port=args.port) as fake:
        print(f"replaying {len(table)} cases at {fake.base_url}; Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
