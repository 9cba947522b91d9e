"""The ``k2l-agent`` command line. No logic here: each command calls into ``agent``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Migrate Keras / tf.keras code to PyTorch Lightning, checked.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"k2l-agent {version('k2l-agent')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Migrate Keras / tf.keras code to PyTorch Lightning, checked."""


def _fail_usage(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def migrate(
    src: Annotated[Path, typer.Argument(help="Repository or file to convert.")],
    out: Annotated[Path | None, typer.Option(help="Output directory (default: SRC-k2l).")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Rewrite SRC itself.")] = False,
    force: Annotated[bool, typer.Option(help="Allow --in-place on a dirty tree.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified diff; write nothing.")] = False,
    report: Annotated[Path | None, typer.Option(help="Report path (.md; .json beside it).")] = None,
    jobs: Annotated[int, typer.Option(help="Parallel conversion processes.")] = 1,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Rules only.")] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip the checks.")] = False,
    changed_only: Annotated[str | None, typer.Option(
        help="Convert only files changed against this git ref.")] = None,
    model: Annotated[str | None, typer.Option(help="LLM model name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (or OPENAI_API_KEY).")] = None,
    max_retries: Annotated[int | None, typer.Option(help="LLM repair rounds.")] = None,
    max_tokens_total: Annotated[int | None, typer.Option(help="LLM token budget.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the LLM cache.")] = False,
    sandbox: Annotated[str, typer.Option(
        help="How checks contain the code they run: auto (bwrap if usable), bwrap, none "
             "(resource limits only).")] = "auto",
    keep_script_layout: Annotated[bool, typer.Option(
        "--keep-script-layout",
        help="Leave script statements at module level (default: they move under one "
             "`if __name__ == \"__main__\":` block, so the module imports cleanly).")] = False,
) -> None:
    """Convert a repository: a converted copy, report.md and report.json."""
    from agent.commands.migrate import run_migrate

    code = run_migrate(src, out=out, in_place=in_place, force=force, diff=diff, report=report,
                       jobs=jobs, no_llm=no_llm, no_validate=no_validate,
                       changed_only=changed_only,
                       llm_cli={"model": model, "base_url": base_url, "api_key": api_key,
                                "max_retries": max_retries,
                                "max_tokens_total": max_tokens_total,
                                "use_cache": False if no_cache else None},
                       sandbox=sandbox, keep_script_layout=keep_script_layout)
    raise typer.Exit(code)


@app.command("port-weights")
def port_weights_cmd(
    keras_model: Annotated[Path, typer.Argument(help=".keras / .h5 model, or .weights.h5 with --keras-builder")],
    torch_module: Annotated[str, typer.Argument(help="converted.py:ClassName or converted.py:build_model()")],
    output: Annotated[Path, typer.Argument(help="Where to write the torch state_dict (.pt).")],
    keras_builder: Annotated[str | None, typer.Option(
        help="original.py:build_model() to build the architecture for a .weights.h5 file.")] = None,
) -> None:
    """Copy trained Keras weights into the converted module (fails naming the layer)."""
    from agent.commands.port_weights import run_port_weights

    raise typer.Exit(run_port_weights(keras_model, torch_module, output, keras_builder))


@app.command("pr-comment")
def pr_comment_cmd(
    report_json: Annotated[Path, typer.Argument(help="report.json from migrate.")],
    repo: Annotated[str | None, typer.Option(help="OWNER/NAME")] = None,
    pr: Annotated[int | None, typer.Option(help="Pull request number.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print, do not post.")] = False,
    suggest: Annotated[bool, typer.Option("--suggest", help="Post suggestion blocks.")] = False,
    head_sha: Annotated[str | None, typer.Option(help="PR head commit for links.")] = None,
) -> None:
    """Post (or update) the migration report as one pull-request comment."""
    from agent.commands.pr_comment import pr_comment

    raise typer.Exit(pr_comment(report_json, repo, pr, dry_run, suggest, head_sha=head_sha))


@app.command("eval")
def eval_cmd(
    cases: Annotated[Path, typer.Argument(help="Directory of Keras scripts.")] = Path("eval/cases"),
    out: Annotated[Path, typer.Option(help="Where results.json / results.md go.")] = Path("eval-out"),
    jobs: Annotated[int, typer.Option(help="Parallel conversion processes.")] = 1,
    llm: Annotated[bool, typer.Option("--llm", help="Also run the LLM stage (pass@1/pass@k).")]
    = False,
    model: Annotated[str | None, typer.Option(help="LLM model name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (or OPENAI_API_KEY).")] = None,
    sandbox: Annotated[str, typer.Option(help="auto, bwrap or none (see migrate).")] = "auto",
    no_validate: Annotated[bool, typer.Option(
        "--no-validate", help="Skip the checks and the forward smoke run (faster).")] = False,
) -> None:
    """Score the converter on a benchmark set, stage by stage."""
    from agent.commands.evaluate import run_eval

    llm_cli = {"model": model, "base_url": base_url, "api_key": api_key} if llm else None
    raise typer.Exit(run_eval(cases, out, jobs, validate=not no_validate, llm_cli=llm_cli,
                              sandbox=sandbox))


def main(argv: list[str] | None = None) -> Any:
    return app(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
