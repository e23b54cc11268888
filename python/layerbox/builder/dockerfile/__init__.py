"""The Dockerfile parser: text in, typed and checked build stages out.

Everything follows the Dockerfile reference and BuildKit's ``frontend/dockerfile/parser`` and
``instructions`` packages (which docker's classic builder also uses):

- Parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read only from the very top
  of the file, before any blank line, comment or instruction; keys are case-insensitive and
  each may appear once. ``escape`` (``\\`` or ``\\```) changes line continuation and escapes.
- ``#`` as the first non-blank character makes a comment. A line ending in the escape character
  continues on the next line; comment lines and blank lines inside a continuation are skipped
  (a blank one produces a warning, as docker prints). Instructions are case-insensitive.
- Here-documents (``RUN <<EOF``, ``<<-EOF`` strips leading tabs, ``<<"EOF"`` disables
  expansion, several per instruction, ``COPY <<EOF /dest``) are read after the instruction line
  for RUN, COPY and ADD in shell form (and ONBUILD of those).

``parse`` returns a :class:`Dockerfile`; any mistake raises :class:`DockerfileError`, whose
message names the file and line (``Dockerfile:7: unknown instruction: FOO``). Arguments are
kept *unexpanded*, exactly as written (quotes included where docker keeps them for later);
each instruction's :meth:`Instruction.expanded` returns a copy with variables substituted where
docker substitutes them, given the environment of that step.

Which instructions docker expands (``Instruction.expands``): ADD, ARG, COPY, ENV, EXPOSE (split
into words too), FROM (with the ARGs declared before the first FROM only), LABEL, STOPSIGNAL,
USER, VOLUME, WORKDIR and RUN's ``--mount`` values. Not expanded: RUN/CMD/ENTRYPOINT/
HEALTHCHECK commands (the shell does it at run time), SHELL, MAINTAINER, ONBUILD (its trigger is
expanded when it fires in a child build). Within one ENV (or ARG, LABEL) instruction every
value sees the environment from *before* that instruction: ``ENV a=1 b=$a`` gives ``b`` the old
``a``.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument

from .instructions import (
    Add, Arg, Cmd, Copy, Dockerfile, DockerfileError, Entrypoint, Env, Expose, From,
    Healthcheck, Heredoc, Instruction, INSTRUCTIONS, Label, Maintainer, Onbuild, Run, RunMount,
    Shell, Stage, StopSignal, User, Volume, Workdir,
)
from .gocompat import parse_duration, _strip
from .lines import _Directives, parse_heredoc, _parse_nodes, _split_lines
from .instruction_builder import _Builder

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Union

__all__ = [
    "Add", "Arg", "Cmd", "Copy", "Dockerfile", "DockerfileError", "Entrypoint", "Env", "Expose",
    "From", "Healthcheck", "Heredoc", "Instruction", "Label", "Maintainer", "Onbuild", "Run",
    "RunMount", "Shell", "Stage", "StopSignal", "User", "Volume", "Workdir", "parse",
    "parse_duration", "parse_file", "parse_heredoc", "INSTRUCTIONS",
]


# -- the whole file ---------------------------------------------------------------------------------
def parse(text: Union[str, bytes], filename: str = "Dockerfile") -> Dockerfile:
    """Parse and check a Dockerfile. Raises :class:`DockerfileError` on the first mistake.

    ``filename`` is only used in messages (use the name the user gave, e.g. ``Dockerfile``).
    Bytes are decoded as UTF-8.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    if _strip(text.lstrip("\ufeff")) == "":
        raise DockerfileError(filename, None, "the Dockerfile cannot be empty")
    directives = _Directives()
    warnings: List[str] = []
    nodes = _parse_nodes(text, filename, directives, warnings)
    if not nodes:
        last = len(_split_lines(text))
        raise DockerfileError(filename, last, "file with no instructions")
    builder = _Builder(filename, directives.escape)
    meta_args: List[Arg] = []
    stages: List[Stage] = []
    for node in nodes:
        inst = builder.build(node)
        if isinstance(inst, From):
            stages.append(Stage(index=len(stages), name=inst.name, image=inst.image,
                                platform=inst.platform, line=inst.line, from_=inst))
        elif not stages:
            if isinstance(inst, Arg):
                meta_args.append(inst)
                continue
            raise inst.error("no build stage in current context")
        else:
            stages[-1].instructions.append(inst)
    if not stages:
        raise DockerfileError(filename, None, "dockerfile contains no stages to build")
    df = Dockerfile(filename=filename, directives=dict(directives.values),
                    escape=directives.escape, meta_args=meta_args, stages=stages,
                    warnings=warnings)
    _check_stages(df)
    return df


def _check_stages(df: Dockerfile) -> None:
    """What docker finds wrong between stages before running any step."""
    seen: Dict[str, Stage] = {}
    for stage in df.stages:
        if stage.name is not None:
            if stage.name in seen:
                raise stage.from_.error(f"{stage.name} stage name already used")
            seen[stage.name] = stage
        base = stage.image.lower()
        if "$" not in base and base in seen and seen[base].index < stage.index:
            stage.base_stage = seen[base].index
    for stage in df.stages:
        for inst in stage.instructions:
            if not isinstance(inst, Copy) or inst.from_ is None or "$" in inst.from_:
                continue
            ref = inst.from_.lower()
            if ref in seen:
                target = seen[ref]
                if target.index == stage.index:
                    raise inst.error(f"circular dependency detected on stage: {target.name}")
                if target.index > stage.index:
                    raise inst.error(
                        f"COPY --from={inst.from_} refers to stage {target.name!r} defined later "
                        f"(line {target.line}); a stage can only copy from an earlier one")
                continue
            try:
                df.stage_for(inst.from_, stage.index)
            except InvalidArgument as e:
                raise inst.error(str(e)) from None


def parse_file(path: str, filename: Optional[str] = None) -> Dockerfile:
    """Read and :func:`parse` the Dockerfile at ``path``. ``filename`` (for messages) defaults
    to ``path``'s last component."""
    import os

    with open(path, "rb") as f:
        data = f.read()
    return parse(data, filename or os.path.basename(path))
