"""The LLM stage: write what the rules left, check it, feed failures back, bounded.

One piece at a time (all ``Unmapped`` records of one qualname): prompt, ask, parse, splice,
validate the whole file. A failing check whose lines the LLM wrote goes back to the model
(``repair.md``) for at most ``max_retries`` rounds; a reply without a usable code block is
asked again (``format_error.md``) under its own counter, ``max_format_retries`` (SWE-agent
keeps the two apart). A failure in rule-written lines is a rule bug: reported, not "fixed" by
the model. Whatever stops a piece (rounds, budget, endpoint down), the file keeps the
pre-LLM text of that piece, so nothing the user wrote is lost, and the file is ``partial``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.llm.client import BudgetExceeded, ChatReply, LLMClient, LLMRequestError, LLMUnavailable
from agent.llm.config import LLMConfig
from agent.llm.extract import FormatError, extract_piece
from agent.llm.imports import complete_imports
from agent.llm.splice import SpliceError, SpliceResult, splice
from agent.llm.tools import TOOL_SPECS, ToolBox
from agent.records import CheckResult, Diagnostic, LLMStats, Unmapped

Validator = Callable[[str], Sequence[CheckResult]]
Lookup = Callable[[str], "str | None"]
# converted text -> (text after the rules, what is still unmapped), or None if they failed
Rules = Callable[[str], "tuple[str, Sequence[Unmapped]] | None"]
Message = dict[str, Any]

MAX_CONTEXT_CHARS = 12_000
CONTEXT_WINDOW_LINES = 60
EXCERPT_LINES = 4
MAX_TABLE_ENTRIES = 8
_KERAS_NAME = re.compile(r"\b(?:keras|layers|ops|tf)\.[A-Za-z_][\w.]*")
_TRAINING_HINTS = ("train_step", "test_step", "GradientTape", "fit")


@dataclass(frozen=True)
class LLMContext:
    """What the stage needs besides the code: where the file is and the run's shared client."""

    file: str = "converted.py"  # the file's path in the project, for prompts and messages
    repo_root: Path | None = None  # root for the read_file tool
    lookup: Lookup | None = None  # Keras name -> table entry text (the rules' tables)
    client: LLMClient | None = None  # share one per run: the budgets are per run
    module_name: str = "converted.py"  # the file name the validator reports diagnostics under
    rules: Rules | None = None  # the rules entry point, run again after each accepted piece


@dataclass(frozen=True)
class LLMOutcome:
    source: str
    stats: LLMStats
    resolved: tuple[Unmapped, ...]
    unresolved: tuple[Unmapped, ...]
    status: Literal["converted", "partial"]
    messages: tuple[str, ...]
    llm_unavailable: bool = False  # the endpoint is gone: the caller can skip the stage from now on


TOOL_NAMES = frozenset(spec["function"]["name"] for spec in TOOL_SPECS)


def _call_code(arguments: str) -> str | None:
    """The ``code`` argument of a tool call, if it has one."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return None
    value = args.get("code") if isinstance(args, dict) else None
    return value if isinstance(value, str) and value.strip() else None


class _PieceFailed(Exception):
    """This piece stays as the rules left it; the next piece may still work."""


class _StopFile(Exception):
    """Nothing more can be done for this file (a rule bug blocks every check)."""


def _prompt(name: str) -> Template:
    return Template(resources.files("agent.prompts").joinpath(name).read_text(encoding="utf-8"))


def _diag_line(d: Diagnostic) -> str:
    return f"{d.tool}:{d.line}:{d.col}: {d.code} {d.message}".rstrip()


def _in(line: int, regions: Sequence[tuple[int, int]]) -> bool:
    return any(a <= line <= b for a, b in regions)


def _piece_regions(source: str, qualname: str) -> tuple[tuple[int, int], ...]:
    """Where a piece (class, function or ``Class.method``) sits in ``source`` now."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return ()
    positions = wrapper.resolve(PositionProvider)
    top, _, method = qualname.partition(".")
    for stmt in wrapper.module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) and stmt.name.value == top:
            node: cst.CSTNode = stmt
            if method and isinstance(stmt, cst.ClassDef):
                found = [
                    m
                    for m in stmt.body.body
                    if isinstance(m, (cst.FunctionDef, cst.ClassDef)) and m.name.value == method
                ]
                if not found:
                    return ()
                node = found[0]
            pos = positions[node]
            return ((pos.start.line, pos.end.line),)
    return ()


def _piece_code(source: str, qualname: str) -> str:
    lines = source.splitlines()
    return "\n".join(
        "\n".join(lines[a - 1 : b]) for a, b in _piece_regions(source, qualname)
    )


class _Stage:
    """One file's run of the stage; holds the counters that become its ``LLMStats``."""

    def __init__(self, config: LLMConfig, validate: Validator, context: LLMContext, client: LLMClient):
        self.config = config
        self.validate = validate
        self.context = context
        self.client = client
        self.calls = self.tokens = self.retries = self.cache_hits = 0
        self.notes: list[str] = []

    # -- talking to the model -------------------------------------------------------------
    def _ask(
        self, messages: list[Message], toolbox: ToolBox, meta: dict[str, Any]
    ) -> tuple[ChatReply, str | None]:
        """One answer, and the last code the model handed to a tool (models that checked their
        code with ``run_checks`` often end with "it passes" and no code; models that "submit"
        through a tool we do not have mean that code as the answer). Tool calls in between are
        executed and sent back, bounded."""
        use_tools = self.config.use_tools and self.client.tools_supported
        tool_code: str | None = None
        for i in range(self.config.max_tool_calls + 1):
            tools = toolbox.specs() if use_tools and self.client.tools_supported else None
            last = i == self.config.max_tool_calls
            reply = self.client.chat(
                messages, tools, tool_choice="none" if (tools and last) else None, meta=meta
            )
            if reply.cached:
                self.cache_hits += 1
            else:
                self.calls += 1
                self.tokens += reply.tokens
            if not reply.tool_calls or not tools:
                return reply, tool_code
            submitted = [c for c in reply.tool_calls if c.name not in TOOL_NAMES and _call_code(c.arguments)]
            if submitted:
                return reply, _call_code(submitted[-1].arguments)
            messages.append(reply.assistant_message())
            for call in reply.tool_calls:
                if call.name == "run_checks":
                    tool_code = _call_code(call.arguments) or tool_code
                result = toolbox.call(call.name, call.arguments)
                self.client.trajectory.append(
                    "tool", **meta, name=call.name, arguments=call.arguments, result=result
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        return reply, tool_code

    def _code(self, base: str, reply: str, qualname: str, tool_code: str | None) -> SpliceResult:
        """Reply text (or the code it last checked with a tool) → the spliced file."""
        try:
            code = extract_piece(reply, qualname, base)
        except FormatError:
            if tool_code is None:
                raise
            code = extract_piece(f"```python\n{tool_code}\n```", qualname, base)
        code, fixes = complete_imports(code, base)
        for fix in fixes:
            self.notes.append(f"{self.context.file}: {qualname}: {fix} (the reply used it without importing)")
        return splice(base, code, qualname)

    # -- prompts --------------------------------------------------------------------------
    def _first_prompt(self, source: str, qualname: str, records: Sequence[Unmapped]) -> str:
        snippet = next((r.snippet for r in records if r.snippet.strip()), "") or _piece_code(
            source, qualname
        )
        reasons = "; ".join(
            dict.fromkeys(f"{r.keras_name}: {r.reason}" if r.keras_name else r.reason for r in records)
        )
        training = "." in qualname or any(
            h in f"{r.keras_name} {r.reason}" for r in records for h in _TRAINING_HINTS
        )
        template = _prompt("train_step.md" if training else "custom_layer.md")
        return template.substitute(
            qualname=qualname,
            class_name=qualname.partition(".")[0],
            file=self.context.file,
            reasons=reasons or "(no reason given)",
            snippet=snippet.strip("\n"),
            context=self._context_code(source, qualname).strip("\n"),
            table_entries=self._table_entries(records, snippet),
        )

    def _context_code(self, source: str, qualname: str) -> str:
        """The converted file, or, when it is long, its imports and the lines around the piece."""
        if len(source) <= MAX_CONTEXT_CHARS:
            return source
        lines = source.splitlines()
        regions = _piece_regions(source, qualname)
        start, end = regions[0] if regions else (1, 1)
        head = [ln for ln in lines[: start - 1] if ln.startswith(("import ", "from "))]
        lo = max(0, start - 1 - CONTEXT_WINDOW_LINES)
        hi = min(len(lines), end + CONTEXT_WINDOW_LINES)
        return "\n".join([*head, "# ...", *lines[lo:hi], "# ..."])

    def _table_entries(self, records: Sequence[Unmapped], snippet: str) -> str:
        if self.context.lookup is None:
            return "(no table entries available)"
        names = [r.keras_name for r in records if r.keras_name] + _KERAS_NAME.findall(snippet)
        entries: list[str] = []
        for name in dict.fromkeys(names):
            entry = self.context.lookup(name)
            if entry:
                entries.append(f"- {name}:\n{entry.strip()}")
            if len(entries) >= MAX_TABLE_ENTRIES:
                break
        return "\n".join(entries) if entries else "(none of its names has a table entry)"

    def _repair_prompt(
        self, qualname: str, attempt: SpliceResult, own: Sequence[Diagnostic], round_: int
    ) -> str:
        lines = attempt.source.splitlines()
        wanted = sorted({d.line for d in own if 0 < d.line <= len(lines)})
        shown: set[int] = set()
        for line in wanted:
            shown.update(range(max(1, line - EXCERPT_LINES), min(len(lines), line + EXCERPT_LINES) + 1))
        if not shown:  # nothing to point at (a crash without a line): show what it wrote
            for a, b in attempt.regions:
                shown.update(range(a, b + 1))
        out: list[str] = []
        previous = 0
        for n in sorted(shown)[:200]:
            if previous and n != previous + 1:
                out.append("   ...")
            mark = ">>" if _in(n, attempt.regions) else "  "
            out.append(f"{mark}{n:5d} | {lines[n - 1]}")
            previous = n
        return _prompt("repair.md").substitute(
            qualname=qualname,
            round=round_,
            max_rounds=self.config.max_retries,
            diagnostics="\n".join(_diag_line(d) for d in own) or "(no diagnostics)",
            excerpt="\n".join(out),
        )

    # -- checks ---------------------------------------------------------------------------
    def _failures(self, source: str) -> list[Diagnostic]:
        try:
            results = list(self.validate(source))
        except Exception as exc:  # a validator bug must not lose the file
            raise _PieceFailed(f"the validator crashed: {type(exc).__name__}: {exc}") from exc
        failing: list[Diagnostic] = []
        for check in results:
            if check.status != "failed":
                continue
            failing.extend(check.diagnostics)
            if not check.diagnostics:
                failing.append(Diagnostic(check.name, 0, 0, "failed", check.message or "check failed"))
        return failing

    def _in_module(self, d: Diagnostic) -> bool:
        name = self.context.module_name
        return d.line > 0 and (not d.file or d.file == name or d.file.endswith("/" + name))

    def _classify(
        self, failing: Sequence[Diagnostic], attempt: SpliceResult, pending: Sequence[str]
    ) -> tuple[list[Diagnostic], list[Diagnostic]]:
        """Split into (the LLM's, the rules') failures; those in pieces still pending are neither."""
        own: list[Diagnostic] = []
        rules: list[Diagnostic] = []
        pending_regions = [r for q in pending for r in _piece_regions(attempt.source, q)]
        for d in failing:
            if not self._in_module(d) or _in(d.line, attempt.regions):
                own.append(d)  # its lines, or no line at all: only the model can act on it
            elif _in(d.line, pending_regions):
                continue  # still Keras, waiting for its own turn
            else:
                rules.append(d)
        return own, rules

    def _run_checks_tool(self, base: str, qualname: str, pending: Sequence[str]) -> Callable[[str], str]:
        def run(code: str) -> str:
            try:
                attempt = splice(base, complete_imports(code, base)[0], qualname)
            except (FormatError, SpliceError) as exc:
                return json.dumps({"passed": False, "error": str(exc)})
            failing = self._failures(attempt.source)
            own, rules = self._classify(failing, attempt, pending)
            return json.dumps(
                {
                    "passed": not own and not rules,
                    "diagnostics": [
                        dataclasses.asdict(d) | {"in_your_code": d in own} for d in [*own, *rules]
                    ],
                }
            )

        return run

    # -- one piece ------------------------------------------------------------------------
    def convert_piece(
        self, base: str, qualname: str, records: Sequence[Unmapped], pending: Sequence[str]
    ) -> str:
        """The file with this piece written by the model and checked; raises to keep ``base``."""
        toolbox = ToolBox(self._run_checks_tool(base, qualname, pending), self.context.lookup,
                          self.context.repo_root)
        messages: list[Message] = [
            {"role": "system", "content": _prompt("system.md").substitute()},
            {"role": "user", "content": self._first_prompt(base, qualname, records)},
        ]
        format_left, repair_left, round_ = self.config.max_format_retries, self.config.max_retries, 0
        purpose = "convert"
        while True:
            round_ += 1
            meta = {"file": self.context.file, "qualname": qualname, "round": round_, "purpose": purpose}
            reply, tool_code = self._ask(messages, toolbox, meta)
            messages.append(reply.assistant_message())
            if reply.tool_calls:  # answered through a tool: the history must answer the call
                messages += [{"role": "tool", "tool_call_id": c.id, "content": "received"}
                             for c in reply.tool_calls]
            try:
                attempt = self._code(base, reply.content, qualname, tool_code)
            except SpliceError as exc:
                raise _PieceFailed(str(exc)) from exc
            except FormatError as exc:
                if format_left <= 0:
                    raise _PieceFailed(
                        f"no usable code after {self.config.max_format_retries + 1} replies ({exc})"
                    ) from exc
                format_left -= 1
                self.retries += 1
                purpose = "format"
                text = _prompt("format_error.md").substitute(error=str(exc), qualname=qualname)
                messages.append({"role": "user", "content": text})
                continue
            for note in attempt.ignored:
                self.notes.append(f"{self.context.file}: {qualname}: reply part not used: {note}")
            failing = self._failures(attempt.source)
            self.client.trajectory.append(
                "checks", **meta, failing=[dataclasses.asdict(d) for d in failing], regions=attempt.regions
            )
            own, rules = self._classify(failing, attempt, pending)
            if rules:
                first = rules[0]
                raise _StopFile(
                    f"{self.context.file}:{first.line}: rule bug: {first.tool} {first.code} "
                    f"{first.message} is in rule-written code, which the LLM does not edit; "
                    f"{qualname} and the pieces after it are left for the user (please report it)"
                )
            if not own:
                if failing:
                    self.notes.append(
                        f"{self.context.file}: {qualname}: accepted; the remaining failures are in "
                        f"pieces not converted yet ({', '.join(pending)})"
                    )
                return attempt.source
            if repair_left <= 0:
                raise _PieceFailed(
                    f"checks still fail after {self.config.max_retries} repair rounds: "
                    f"{_diag_line(own[0])}"
                )
            repair_left -= 1
            self.retries += 1
            purpose = "repair"
            text = self._repair_prompt(qualname, attempt, own, self.config.max_retries - repair_left)
            messages.append({"role": "user", "content": text})

    def stats(self) -> LLMStats:
        return LLMStats(self.calls, self.tokens, self.retries, self.cache_hits)


def _groups(unmapped: Sequence[Unmapped]) -> list[tuple[str, list[Unmapped]]]:
    groups: dict[str, list[Unmapped]] = {}
    for record in sorted(unmapped, key=lambda r: r.line):
        groups.setdefault(record.qualname, []).append(record)
    return list(groups.items())


def run_llm_stage(
    converted_source: str,
    unmapped: Sequence[Unmapped],
    *,
    config: LLMConfig,
    validate: Validator,
    context: LLMContext,
) -> LLMOutcome:
    """Write every unmapped piece with the LLM; never raises, never loses the original.

    After each accepted piece the rules run again (``context.rules``): code that only waited
    for that piece (the model that uses a custom layer) converts by rules, and only what is
    still unmapped goes to the model next.
    """
    client = context.client if context.client is not None else LLMClient(config)
    stage = _Stage(config, validate, context, client)
    source = converted_source
    left: list[Unmapped] = list(unmapped)  # what is unmapped in ``source`` now
    resolved: list[Unmapped] = []
    messages: list[str] = []
    attempted: set[str] = set()
    unavailable = False
    outside = [r for r in left if not r.qualname]
    if outside:
        messages.append(
            f"{context.file}: {len(outside)} construct(s) outside any class or function "
            "cannot be handed to the LLM; left for the user"
        )
    while True:
        todo = [(q, rs) for q, rs in _groups(left) if q and q not in attempted]
        if not todo:
            break
        qualname, records = todo[0]
        attempted.add(qualname)
        try:
            source = stage.convert_piece(source, qualname, records, pending=[q for q, _ in todo[1:]])
        except (_PieceFailed, LLMRequestError) as exc:
            messages.append(f"{context.file}: {qualname}: left as it was: {exc}")
            continue
        except _StopFile as exc:
            messages.append(str(exc))
            break
        except LLMUnavailable as exc:
            unavailable = True
            messages.append(f"{exc}; continuing with rules only")
            break
        except BudgetExceeded as exc:
            messages.append(f"{context.file}: LLM budget stopped the stage ({exc}); "
                            f"{qualname} and the pieces after it are left for the user")
            break
        except Exception as exc:  # an odd answer or endpoint must never cost the file
            messages.append(f"{context.file}: {qualname}: left as it was: the LLM stage failed "
                            f"({type(exc).__name__}: {exc})")
            continue
        resolved.extend(records)
        left = [r for r in left if r.qualname != qualname]
        source, left = _rules_again(source, left, context, messages)
    messages.extend(stage.notes)
    return LLMOutcome(
        source=source,
        stats=stage.stats(),
        resolved=tuple(resolved),
        unresolved=tuple(left),
        status="partial" if left else "converted",
        messages=tuple(messages),
        llm_unavailable=unavailable,
    )


def _rules_again(
    source: str, left: list[Unmapped], context: LLMContext, messages: list[str]
) -> tuple[str, list[Unmapped]]:
    """The rules over the file with the accepted piece; their view of what is left wins."""
    if context.rules is None:
        return source, left
    try:
        again = context.rules(source)
    except Exception as exc:  # a rule crash must not lose the accepted piece
        messages.append(f"{context.file}: the rules failed on the file after the LLM's piece "
                        f"({type(exc).__name__}: {exc}); continuing without a rules pass")
        return source, left
    if again is None:
        return source, left
    text, still = again
    return text, list(still)
