"""`invarlock completion bash|zsh|fish`: print the shell's completion script (click's own completion)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the completion script of SHELL. Enable it with, e.g. for bash,
    `eval "$(invarlock completion bash)"` in ~/.bashrc (zsh: ~/.zshrc; fish: `invarlock completion fish | source`)."""
    from . import console
    from .main import cli

    completion = get_completion_class(shell)
    if completion is None:  # click ships all three; a click without one is an install problem
        raise click.UsageError(f"this click has no {shell} completion")
    console.out(completion(cli, {}, "invarlock", "_INVARLOCK_COMPLETE").source())
