"""Where the LLM settings come from: command-line flags, then environment, then a config file.

Read only at the edge (the CLI); everything below gets an :class:`LLMConfig` and plain arguments.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.llm.client import LLMConfig, LLMSettingError

DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_DEFAULTS: dict[str, Any] = {"timeout": 300.0, "concurrency": 4}  # a base URL: often one local GPU or CPU
# A server on this machine (llama.cpp, Ollama, LM Studio on a laptop) usually answers one request at a
# time, a minute or more each on a CPU: two in flight keep it busy while a third would only wait in its
# queue and time out (docs/labelling.md has a measured case).
LOOPBACK_DEFAULTS: dict[str, Any] = {"timeout": 900.0, "concurrency": 2}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
DEFAULTS: dict[str, Any] = {
    "timeout": 60.0,
    "concurrency": 8,
    "max_retries": 4,
    "temperature": 0.0,
    "max_prompt_tokens": 2000,
}
CONFIG_KEYS = {
    "model", "base_url", "api_key_env", "timeout", "concurrency", "max_retries", "temperature",
    "max_prompt_tokens", "prompt", "cache_dir", "prices",
}  # fmt: skip

EXAMPLE_CONFIG = """\
[llm]
model = "llama3.1:8b"                      # or gpt-4o-mini, Qwen/Qwen2.5-7B-Instruct, ...
base_url = "http://localhost:11434/v1"     # Ollama; vLLM :8000/v1, LM Studio :1234/v1, llama.cpp :8080/v1
api_key_env = "OPENAI_API_KEY"             # the NAME of the variable holding the key, never the key
concurrency = 4
timeout = 120
"""


@dataclass(frozen=True)
class SettingFlags:
    """What a caller set explicitly: command-line flags, or a Python API's arguments. None: not given,
    so the environment, then the config file, then the defaults decide (:func:`resolve_settings`)."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None  # the Python API's; the command line has no key flag (keys stay in the environment)
    timeout: float | None = None
    concurrency: int | None = None
    max_retries: int | None = None
    temperature: float | None = None
    max_prompt_tokens: int | None = None
    prompt: Sequence[str] | None = None  # --prompt specs, see llm/prompting.py:resolve_prompts
    cache_dir: str | os.PathLike[str] | None = None
    prices: str | os.PathLike[str] | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a label run needs from the outside world."""

    config: LLMConfig
    configured: bool  # a key or a base URL was given: there is an LLM to call
    cache_dir: Path | None
    prompts: list[str]
    prices: Path | None
    max_prompt_tokens: int


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("llm", {})
    if not isinstance(section, dict):
        raise InputError(f"{path}: [llm] must be a table")
    if "api_key" in data or "api_key" in section:
        raise InputError(f"{path}: do not put API keys in files; set api_key_env to the name of an environment variable")
    unknown = sorted(set(section) - CONFIG_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown key(s) in [llm]: {', '.join(unknown)}; known: {', '.join(sorted(CONFIG_KEYS))}")
    base = path.parent
    for key in ("cache_dir", "prices"):
        if key in section:
            section[key] = str((base / Path(section[key]).expanduser()).resolve())
    return section


def resolve_settings(flags: SettingFlags | Mapping[str, Any], env: Mapping[str, str], config_path: Path | None = None) -> Settings:
    """Flags win over environment variables, which win over the config file, which wins over defaults.

    ``flags`` may also be a mapping of :class:`SettingFlags`' field names (scripts, tests); another name is an error.
    """
    if not isinstance(flags, SettingFlags):
        unknown = sorted(set(flags) - {f.name for f in fields(SettingFlags)})
        if unknown:
            raise TypeError(f"resolve_settings: unknown setting(s) {', '.join(unknown)}")
        flags = SettingFlags(**flags)
    given: SettingFlags = flags
    config_path = config_path or (Path(env["TOPICMAP_CONFIG"]) if env.get("TOPICMAP_CONFIG") else None)
    file = read_config(config_path) if config_path else {}

    defaults = dict(DEFAULTS)
    sources: dict[str, str] = {}  # setting -> where its value came from, for error messages

    def pick(name: str, env_name: str | None = None) -> Any:
        sources[name] = "--" + name.replace("_", "-")
        value = getattr(given, name)
        if value is not None:
            return value
        if env_name and env.get(env_name):
            sources[name] = env_name
            return env[env_name]
        if name in file:
            sources[name] = f"{name} in {config_path}"
            return file[name]
        return defaults.get(name)

    def number(name: str, integer: bool = False) -> Any:
        value = pick(name)
        try:
            if isinstance(value, bool) or (integer and isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value) if integer else float(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{sources[name]} {value!r}: must be a {'whole number' if integer else 'number'}") from None

    key_var = str(file.get("api_key_env", "OPENAI_API_KEY"))
    api_key = given.api_key or env.get(key_var) or None
    base_url = pick("base_url", "OPENAI_BASE_URL") or None
    if base_url and "api.openai.com" not in base_url:
        defaults.update(LOCAL_DEFAULTS)  # a local server answers slower and queues: fewer requests, more patience
        if _is_loopback(str(base_url)):
            defaults.update(LOOPBACK_DEFAULTS)
    model = _model_name(given.model, env.get("TOPICMAP_MODEL"), file.get("model"), config_path)
    try:
        config = LLMConfig(
            model=str(model),
            base_url=base_url,
            api_key=api_key,
            timeout=number("timeout"),
            concurrency=number("concurrency", integer=True),
            max_retries=number("max_retries", integer=True),
            temperature=number("temperature"),
        )
    except LLMSettingError as exc:
        raise InputError(f"{sources.get(exc.field, exc.field)} {_shown(exc.value)}: {exc.problem}") from None
    max_prompt_tokens = number("max_prompt_tokens", integer=True)
    if max_prompt_tokens < 500:  # the instructions alone take about 300
        raise InputError(f"{sources['max_prompt_tokens']} {max_prompt_tokens}: must be at least 500")
    from_file = file.get("prompt", [])
    prompts = list(given.prompt or []) or ([from_file] if isinstance(from_file, str) else list(from_file))
    cache_dir = given.cache_dir or file.get("cache_dir")
    prices = given.prices or file.get("prices")
    return Settings(
        config=config,
        configured=bool(api_key or base_url),
        cache_dir=Path(cache_dir).expanduser() if cache_dir else None,
        prompts=prompts,
        prices=Path(prices) if prices else None,
        max_prompt_tokens=max_prompt_tokens,
    )


def _shown(value: object) -> str:
    """A setting's value as the user typed it: numbers plain, text quoted."""
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _model_name(flag: Any, variable: str | None, from_file: Any, config_path: Path | None) -> str:
    """The model to ask for; an empty name is a mistake to report, never a reason to fall back to the default."""
    if flag is not None:
        if not str(flag).strip():
            raise InputError(f"--model {flag!r}: empty model name; give the name the server knows, e.g. --model {DEFAULT_MODEL}")
        return str(flag)
    if variable:  # an empty variable counts as unset, as OPENAI_BASE_URL does
        if not variable.strip():
            raise InputError(f"TOPICMAP_MODEL={variable!r}: blank model name; set it to a model name or unset it")
        return variable
    if from_file is not None:
        if not isinstance(from_file, str) or not from_file.strip():
            raise InputError(f"{config_path}: [llm] model = {from_file!r}: give a model name, e.g. model = \"{DEFAULT_MODEL}\"")
        return from_file
    return DEFAULT_MODEL


def environment() -> dict[str, str]:
    """A snapshot of the variables this module looks at (the CLI passes it in)."""
    return dict(os.environ)


def _is_loopback(base_url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return False
    return host in LOOPBACK_HOSTS or host.startswith("127.")
