"""The LLM commands' options are declared once (cli/options.py:LLMOptions) and resolved into typed settings."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from topicmap.hierarchy.cli.main import _register_commands, app
from topicmap.hierarchy.cli.options import LLM_OPTION_NAMES, LLMOptions, with_llm_options
from topicmap.hierarchy.llm.settings import SettingFlags, Settings, resolve_settings
from topicmap.hierarchy.tree.treefile import save_tree
from tests.cli_helpers import invoke_cli
from tests.llm_fixtures import make_tree

# What each LLM command leaves out of the shared options, and which it declares itself with another meaning.
NOT_TAKEN = {
    "label": set(),
    "relabel": set(),
    "extract": {"check_fidelity", "prompt"},  # its --prompt names the extraction prompt (a str, not the label prompts)
    "regroup": {"dry_run", "check_fidelity"},
}
OTHER_HELP = {("regroup", "no_cache")}  # same meaning, wording that also names the embedding cache


def declared(command: str) -> dict[str, Any]:
    _register_commands()
    group: Any = get_command(app)
    return {p.name: p for p in group.commands[command].params if p.name}


def reference() -> dict[str, Any]:
    """The shared declarations, as click sees them on a command that takes them all."""
    probe = typer.Typer()

    @probe.command()
    @with_llm_options()
    def every(llm: LLMOptions = LLMOptions()) -> None:
        pass

    @probe.command()
    def other() -> None:  # a second command keeps typer from folding the app into one command
        pass

    group: Any = get_command(probe)
    return {p.name: p for p in group.commands["every"].params if p.name}


def shape(param: Any, with_help: bool = True) -> tuple[Any, ...]:
    help_text = getattr(param, "help", None) if with_help else None
    return (param.opts, param.secondary_opts, param.default, repr(param.type_descriptor.annotation), getattr(param, "is_flag", None), param.multiple, help_text)


@pytest.mark.parametrize("command", NOT_TAKEN)
def test_every_llm_command_takes_the_same_options_with_the_same_defaults(command: str) -> None:
    shared, mine = reference(), declared(command)
    taken = [name for name in LLM_OPTION_NAMES if name not in NOT_TAKEN[command]]
    for name in taken:
        assert name in mine, f"{command} lacks --{name.replace('_', '-')}"
        assert shape(mine[name], (command, name) not in OTHER_HELP) == shape(shared[name], (command, name) not in OTHER_HELP), (command, name)
    for name in NOT_TAKEN[command] - {"prompt"}:
        assert name not in mine, f"{command} takes --{name.replace('_', '-')}"
    # the defaults are the dataclass's, so a command that omits an option behaves as if it were not given
    assert {f.name: f.default for f in fields(LLMOptions)} == {name: shared[name].default for name in LLM_OPTION_NAMES}


def test_options_keep_their_place_in_help() -> None:
    names = list(declared("extract"))
    assert names.index("config") < names.index("prompt") < names.index("concurrency")  # extract's own --prompt where --prompt was
    assert names[-1] == "wait" and names.index("progress") == len(names) - 2
    assert declared("regroup")["no_cache"].help == "Neither read nor write the answer and embedding caches."


def test_the_command_gets_one_typed_object() -> None:
    seen: list[LLMOptions] = []
    probe = typer.Typer()

    @probe.command()
    @with_llm_options(omit=("dry_run",))
    def run(name: Annotated[str, typer.Argument()], llm: LLMOptions = LLMOptions(), extra: Annotated[Optional[int], typer.Option()] = None) -> None:
        seen.append(llm)
        typer.echo(f"{name} {extra}")

    @probe.command()
    def other() -> None:
        pass

    runner = CliRunner()
    result = runner.invoke(probe, ["run", "x", "-m", "m1", "-j", "3", "--prompt", "v1", "--prompt", "label_leaf@v2", "--no-cache", "--extra", "7"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "x 7"
    assert seen[-1] == LLMOptions(model="m1", concurrency=3, prompt=["v1", "label_leaf@v2"], no_cache=True)
    assert runner.invoke(probe, ["run", "y"]).exit_code == 0 and seen[-1] == LLMOptions()
    assert runner.invoke(probe, ["run", "y", "--dry-run"]).exit_code == 2  # omitted: not an option of this command


def test_a_wrong_declaration_fails_at_import_not_at_run_time() -> None:
    with pytest.raises(ValueError, match="not LLM options: dryrun"):
        with_llm_options(omit=("dryrun",))
    with pytest.raises(TypeError, match="needs a parameter 'llm: LLMOptions'"):
        with_llm_options()(lambda name: None)


def test_options_resolve_into_the_typed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TOPICMAP_MODEL", "TOPICMAP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "llm.toml"
    config.write_text('[llm]\nmodel = "from-file"\nconcurrency = 5\ntimeout = 30\n', "utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gpu-box.lan:8000/v1")
    settings = LLMOptions(concurrency=2, config=config).settings()
    assert isinstance(settings, Settings)
    assert (settings.config.model, settings.config.concurrency, settings.config.timeout) == ("from-file", 2, 30.0)  # flag, file, file
    assert settings.config.base_url == "http://gpu-box.lan:8000/v1" and settings.configured
    flags = LLMOptions(model="m", prompt=["v1"], cache_dir=tmp_path).flags()
    assert flags == SettingFlags(model="m", prompt=["v1"], cache_dir=tmp_path)
    # a mapping of the same names resolves alike; a name that is no setting is an error, not ignored
    assert resolve_settings({"model": "m", "prompt": ["v1"]}, {}) == resolve_settings(SettingFlags(model="m", prompt=["v1"]), {})
    with pytest.raises(TypeError, match="unknown setting"):
        resolve_settings({"tree_path": "t.json"}, {})


def test_a_bad_value_is_the_same_error_in_every_command(tmp_path: Path) -> None:
    tree = tmp_path / "tree.json"
    save_tree(make_tree(), tree)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "some text"}) + "\n", "utf-8")
    for args in (["label", str(tree)], ["relabel", str(tree), "--only-missing"], ["extract", str(docs)]):
        result = invoke_cli(*args, "--concurrency", "0", "--dry-run", cwd=tmp_path)
        assert (result.returncode, result.stderr.strip()) == (2, "error: --concurrency 0: must be at least 1"), args
