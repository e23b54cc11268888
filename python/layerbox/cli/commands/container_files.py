"""The verbs on a container's files: commit, diff, export, cp (docker's flags and help)."""

from __future__ import annotations

import click

from layerbox.cli.actions import container_files as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, container_group, register


@click.command("commit", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--author", metavar="STRING", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").')
@click.option("-c", "--change", multiple=True, metavar="INSTRUCTION",
              help="Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, "
                   "LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR).")
@click.option("-m", "--message", metavar="STRING", help="Commit message.")
# docker's boolean flag: "-p" alone is true, "--pause=false" turns it off.
@click.option("-p", "--pause", is_flag=False, flag_value="true", default="true", metavar="BOOL",
              help="Pause container during commit (default true; --pause=false to not pause).")
@click.argument("container", required=False)
@click.argument("repository", required=False)
@click.pass_obj
def commit(obj, **kw):
    """Create a new image from a container's changes."""
    return act.commit(obj, **kw)


@click.command("diff", context_settings=CONTEXT_SETTINGS)
@click.argument("container")
@click.pass_obj
def diff(obj, **kw):
    """Inspect changes to files or directories on a container's filesystem."""
    return act.diff(obj, **kw)


@click.command("export", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", metavar="FILE", help="Write to a file, instead of STDOUT.")
@click.argument("container")
@click.pass_obj
def export(obj, **kw):
    """Export a container's filesystem as a tar archive."""
    return act.export(obj, **kw)


@click.command("cp", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy (there is none).")
@click.argument("src")
@click.argument("dest")
@click.pass_obj
def cp(obj, **kw):
    """Copy files/folders between a container and the local filesystem.

    \b
    layerbox cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
    layerbox cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH

    Use '-' as the source to read a tar archive from stdin and extract it to a directory
    destination in a container. Use '-' as the destination to stream a tar archive of a
    container source to stdout.
    """
    return act.cp(obj, **kw)


for _cmd in (commit, diff, export, cp):
    register(cli, _cmd)
    register(container_group, _cmd)
