"""`glimpse config sample`: every setting with its default and help."""

from __future__ import annotations

import argparse
from typing import Any

from glimpse import settings as settings_module
from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="settings helpers", parents=common)
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("sample", help="print a sample settings file", parents=common)


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    print(settings_module.sample(), end="")
    return 0
