"""Image verbs: docker's names, flags and help; the work is in layerbox.cli.actions.image."""

from __future__ import annotations

import click

from layerbox.cli.actions import image as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, image_group, register


@click.command("import", context_settings=CONTEXT_SETTINGS)
@click.option("-c", "--change", multiple=True, metavar="INSTRUCTION",
              help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", metavar="MSG", help="Set commit message for imported image.")
@click.option("--platform", metavar="PLATFORM", help="Set platform (only linux/amd64 here).")
@click.argument("source")
@click.argument("repository", required=False)
@click.pass_obj
def import_(obj, **kw):
    """Import the contents from a tarball (file or - for stdin) to create a filesystem image."""
    return act.import_(obj, **kw)


@click.command("images", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Filter output: dangling=true|false, reference=PATTERN, label=KEY[=VALUE].")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.argument("reference", required=False)
@click.pass_obj
def images(obj, **kw):
    """List images."""
    return act.images(obj, **kw)


@click.command("tag", context_settings=CONTEXT_SETTINGS)
@click.argument("source")
@click.argument("target")
@click.pass_obj
def tag(obj, **kw):
    """Create a tag TARGET that refers to SOURCE."""
    return act.tag(obj, **kw)


@click.command("rmi", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def rmi(obj, **kw):
    """Remove one or more images."""
    return act.rmi(obj, **kw)


@click.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def image_inspect(obj, **kw):
    """Display detailed information on one or more images."""
    return act.inspect(obj, **kw)


@click.command("history", context_settings=CONTEXT_SETTINGS)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
# docker's boolean flag: "-H" alone is true, "--human=false" prints timestamps and bytes.
@click.option("-H", "--human", is_flag=False, flag_value="true", default="true", metavar="BOOL",
              help="Print sizes and dates in human readable format (default true).")
@click.argument("image", required=False)
@click.pass_obj
def history(obj, **kw):
    """Show the history of an image."""
    return act.history(obj, **kw)


@click.command("save", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", metavar="FILE", help="Write to a file (a directory for oci-dir), instead of STDOUT.")
@click.option("--format", "fmt", type=click.Choice(["docker-archive", "oci-dir"]), default="docker-archive",
              show_default=True, help="docker-archive (also an OCI layout) or oci-dir (a plain OCI layout directory).")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def save(obj, **kw):
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    return act.save(obj, **kw)


@click.command("load", context_settings=CONTEXT_SETTINGS)
@click.option("-i", "--input", "input_", metavar="FILE", help="Read from tar archive file, instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.pass_obj
def load(obj, **kw):
    """Load an image from a tar archive (docker save, layerbox save, OCI layout; plain or compressed)."""
    return act.load(obj, **kw)


@click.command("prune", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Provide filter values (label=...).")
@click.pass_obj
def image_prune(obj, **kw):
    """Remove unused images."""
    return act.prune(obj, **kw)


register(cli, import_, "import")
register(image_group, import_, "import")
register(cli, images)
register(image_group, images, "ls", "list")
register(cli, tag)
register(image_group, tag)
register(cli, rmi)
register(image_group, rmi, "rm")
register(image_group, image_inspect, "inspect")
register(cli, history)
register(image_group, history)
register(cli, save)
register(image_group, save)
register(cli, load)
register(image_group, load)
register(image_group, image_prune, "prune")
