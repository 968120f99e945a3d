"""The `invarlock` group imports a command's module only when that command runs: its static table must name
every command and repeat each one's own short help, so that `invarlock --help` reads as if it imported them."""

from __future__ import annotations

import importlib
import pkgutil

import click
import pytest
from click.testing import CliRunner
from invarlock import cli as cli_package
from invarlock.cli.lazy_group import COMMANDS
from invarlock.cli.main import cli

from tests.fakes.cli import run_cli


def _defined_commands() -> dict[str, click.Command]:
    """Every click command of the cli package's `commands_*` modules that no group there holds, by its name."""
    found: dict[str, click.Command] = {}
    for module in pkgutil.iter_modules(cli_package.__path__):
        if module.name.startswith("commands_"):
            loaded = importlib.import_module(f"invarlock.cli.{module.name}")
            found |= {v.name: v for v in vars(loaded).values() if isinstance(v, click.Command) and v.name}
    held = {id(sub) for group in found.values() if isinstance(group, click.Group) for sub in group.commands.values()}
    return {name: command for name, command in found.items() if id(command) not in held}


def test_the_table_names_every_command_where_it_lives() -> None:
    defined = _defined_commands()
    assert set(COMMANDS) == set(defined)
    ctx = click.Context(cli)
    assert all(cli.get_command(ctx, name) is command for name, command in defined.items())


@pytest.mark.parametrize("limit", [30, 45, 80, 200])
def test_the_help_listing_is_each_commands_own_short_help(limit: int) -> None:
    for name, command in _defined_commands().items():
        static = click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit)
        assert static == command.get_short_help_str(limit), name


def test_help_lists_every_command_and_an_unknown_one_is_a_usage_error() -> None:
    listing = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1].split()
    assert set(COMMANDS) <= set(listing)
    code, out, err = run_cli("nosuch")
    assert (code, out) == (2, "") and err.startswith("ERROR [INVARLOCK:E200] No such command 'nosuch' — see")


@pytest.mark.parametrize(
    ("args", "said", "help_of"),
    [
        (["report", "evaluation.cert.json"], "No such command 'evaluation.cert.json'", "invarlock report"),
        (["runs", "--page", "2"], "No such option '--page'", "invarlock runs"),
        (["keygen"], "Missing option '--out'", "invarlock keygen"),
        (["certify", "--baseline"], "Option '--baseline' requires an argument", "invarlock certify"),
        (["bogus"], "No such command 'bogus'", "invarlock"),
    ],
    ids=[
        "a group without its subcommand",
        "an unknown option",
        "a missing option",
        "an option without its value (parsed before the command's context exists)",
        "no such command",
    ],
)
def test_a_usage_error_points_at_the_help_of_the_command_that_refused_it(
    args: list[str], said: str, help_of: str
) -> None:
    # `report FILE` pointed at `invarlock --help`, which does not list report's html and md.
    code, out, err = run_cli(*args)
    assert (code, out) == (2, "") and err.strip() == f"ERROR [INVARLOCK:E200] {said} — see `{help_of} --help`"


def test_no_help_names_an_option_its_command_does_not_have() -> None:
    """calibrate's -q help said "(and the JSON of a --json)"; calibrate has no --json (the docs hunt)."""
    for name, command in _defined_commands().items():
        options = {opt for param in command.params for opt in param.opts}
        helps = " ".join(param.help or "" for param in command.params if isinstance(param, click.Option))
        named = {word.strip("`()[],;.:") for word in helps.split() if word.strip("`()[],;.:").startswith("--")}
        assert named <= options, (name, named - options)


def test_a_usage_error_listing_choices_reads_as_one_line_of_words() -> None:
    code, out, err = run_cli("completion")  # it printed click's "Choose from:\n\tbash,\n\tzsh" as escapes
    assert (code, out) == (2, "") and "Choose from: bash, zsh, fish — see" in err and "\\n" not in err, err
