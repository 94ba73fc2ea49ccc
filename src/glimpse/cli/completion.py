"""`glimpse completion bash|zsh`: a shell completion script, generated from the parser.

The script holds the whole command tree (commands, options, the choices of an
option), so completing runs no Python. Install it with
``glimpse completion bash > /etc/bash_completion.d/glimpse`` or
``source <(glimpse completion zsh)`` in ``~/.zshrc``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The completion script needs no server settings; ``glimpse.cli.main`` reads this.
NEEDS_SETTINGS = False


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    completion = commands.add_parser(
        "completion", help="print a shell completion script", parents=common
    )
    completion.add_argument("shell", choices=("bash", "zsh"))


@dataclass
class Level:
    """What may follow a command path: subcommands, options, and option values."""

    commands: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    #: Options that take a value, with their choices (empty: complete file names).
    values: dict[str, list[str]] = field(default_factory=dict)


def levels(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Level]]:
    """Each command path of ``parser`` (``""``, ``"image"``, ``"image list"``...) and its level."""
    level = Level()
    children: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                level.commands.append(name)
                children.append((name, child))
        elif action.option_strings and action.help != argparse.SUPPRESS:
            level.options += action.option_strings
            if action.nargs != 0:
                choices = [str(c) for c in action.choices or ()]
                level.values.update(dict.fromkeys(action.option_strings, choices))
    yield path, level
    for name, child in children:
        yield from levels(child, f"{path} {name}".strip())


def _assoc(name: str, entries: Mapping[str, str]) -> str:
    body = "\n".join(f"  [{shlex.quote(k or '_')}]={shlex.quote(v)}" for k, v in entries.items())
    return f"declare -gA {name}=(\n{body}\n)"


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash completion function for ``glimpse``, with the tree of ``parser``."""
    commands: dict[str, str] = {}
    options: dict[str, str] = {}
    values: dict[str, str] = {}
    for path, level in levels(parser):
        commands[path] = " ".join(level.commands)
        options[path] = " ".join(level.options)
        for option, choices in level.values.items():
            values[f"{path or '_'} {option}"] = " ".join(choices) or "@files"
    return f"""# glimpse completion for bash (and zsh through bashcompinit)
{_assoc("_glimpse_commands", commands)}
{_assoc("_glimpse_options", options)}
{_assoc("_glimpse_values", values)}

_glimpse() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local path="" word i skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if ((skip)); then skip=0; continue; fi
        if [[ -n "${{_glimpse_values["${{path:-_}} $word"]+x}}" ]]; then skip=1; continue; fi
        [[ "$word" == -* ]] && continue
        case " ${{_glimpse_commands[${{path:-_}}]}} " in
            *" $word "*) path="${{path:+$path }}$word" ;;
        esac
    done
    local key="${{path:-_}}" value="${{_glimpse_values["${{path:-_}} $prev"]-}}"
    if [[ -n "$value" ]]; then
        if [[ "$value" == "@files" ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$value" -- "$cur"))
        fi
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${{_glimpse_options[$key]}}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${{_glimpse_commands[$key]}}" -- "$cur"))
    fi
}}
complete -o default -F _glimpse glimpse
"""


def run(args: argparse.Namespace, settings: object, environ: Mapping[str, str]) -> int:
    from glimpse.cli.main import parser

    script = bash_script(parser())
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    print(script, end="")
    return 0
