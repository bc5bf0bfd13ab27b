"""Prompts on the command line: ``-`` reads standard input, and text that starts with dashes works.

Click reads any argument that starts with ``-`` as an option, so ``cupola run m "$(cat notes.md)"``
fails when the file starts with YAML front matter (``---``). Two ways through, both documented:

* ``--`` (Click's own "only arguments from here on"): ``cupola run m -- "---..."``;
* :class:`PromptCommand`: an argument that starts with ``-`` but holds whitespace cannot be an
  option, so it is taken as an argument (the options are put first, then ``--``, then the
  arguments in their order).

``cupola run m -`` reads the prompt from standard input (``cat notes.md | cupola run m -``).
"""

from __future__ import annotations

import sys
from typing import Any

from typer.core import TyperCommand

from cupola.errors import UsageError


class PromptCommand(TyperCommand):
    """A command whose arguments may start with dashes when they hold whitespace (a prompt)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Typer vendors its own Click: recognise options by their kind, not their class.
        takes_value = {name: not (p.is_flag or p.count) for p in self.get_params(ctx)
                       if getattr(p, "param_type_name", "") == "option" for name in (*p.opts, *p.secondary_opts)}
        return super().parse_args(ctx, dash_safe(args, takes_value))


def dash_safe(args: list[str], takes_value: dict[str, bool]) -> list[str]:
    """``args`` rearranged so that arguments which start with ``-`` but hold whitespace are read as
    arguments: options (with their values) first, then ``--``, then the arguments in order.
    Unchanged when there is no such argument; what follows an existing ``--`` stays behind it."""
    split = args.index("--") if "--" in args else len(args)
    head, tail = args[:split], args[split + 1:]
    options: list[str] = []
    positionals: list[str] = []
    moved = False
    i = 0
    while i < len(head):
        arg = head[i]
        name = arg.split("=", 1)[0]
        if name in takes_value:
            options.append(arg)
            if takes_value[name] and "=" not in arg and i + 1 < len(head):
                options.append(head[i + 1])  # its value, whatever it looks like
                i += 1
        elif arg.startswith("-") and arg != "-" and any(c.isspace() for c in arg):
            positionals.append(arg)
            moved = True
        elif arg.startswith("-") and arg != "-":
            options.append(arg)  # unknown or clustered short options: Click judges them
        else:
            positionals.append(arg)
        i += 1
    return options + ["--"] + positionals + tail if moved else args


def read_prompt(prompt: str) -> str:
    """The prompt itself; ``-`` reads standard input."""
    if prompt != "-":
        return prompt
    text = sys.stdin.read()
    if not text.strip():
        raise UsageError("the prompt read from standard input is empty",
                         hint='pipe the prompt in (cat notes.md | cupola run MODEL -) or give it as an argument')
    return text
