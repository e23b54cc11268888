"""`build`: docker's flags and help; the work is in layerbox.cli.actions.build."""

from __future__ import annotations

import click

from layerbox.cli.actions import build as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, image_group, register


@click.command("build", context_settings=CONTEXT_SETTINGS)
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]",
              help="Name and optionally a tag in the 'name:tag' format (repeatable).")
@click.option("-f", "--file", "file", metavar="FILE",
              help="Name of the Dockerfile (default: 'PATH/Dockerfile'; '-' reads it from stdin).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY[=VALUE]",
              help="Set build-time variables (KEY alone takes the value from the environment).")
@click.option("--target", metavar="STAGE", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option("-q", "--quiet", is_flag=True,
              help="Suppress the build output and print image ID on success.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Set metadata for an image (repeatable).")
@click.option("--network", metavar="MODE", default="default", show_default=True,
              help="Networking mode for the RUN instructions: default (the bridge), bridge, "
                   "none or host.")
@click.option("--rm", "rm", is_flag=True, default=True,
              help="Remove intermediate containers after a successful build (always on).")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers.")
@click.option("--iidfile", metavar="FILE", help="Write the image ID to the file.")
@click.option("--platform", metavar="PLATFORM", help="Set platform (only linux/amd64 here).")
@click.argument("context", metavar="PATH | -")
@click.pass_obj
def build(obj, **kw):
    """Build an image from a Dockerfile.

    PATH is the build context (a directory); '-' reads a context tar (plain, gzip, bzip2, xz
    or zstd), or a Dockerfile alone, from stdin.
    """
    return act.build(obj, **kw)


register(cli, build)
register(image_group, build)
