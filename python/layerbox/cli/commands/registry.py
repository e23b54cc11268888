"""Registry verbs: pull, push, login, logout (docker's names, flags and help); the work is in
layerbox.cli.actions.registry."""

from __future__ import annotations

import click

from layerbox.cli.actions import registry as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, image_group, register


@click.command("pull", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all-tags", "all_tags", is_flag=True, help="Download all tagged images in the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--platform", metavar="PLATFORM", help="Pick this platform from a multi-platform image (default linux/amd64).")
@click.argument("name")
@click.pass_obj
def pull(obj, **kw):
    """Download an image from a registry (NAME[:TAG|@DIGEST])."""
    return act.pull(obj, **kw)


@click.command("push", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all-tags", "all_tags", is_flag=True, help="Push all tags of an image to the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.argument("name")
@click.pass_obj
def push(obj, **kw):
    """Upload an image to a registry (NAME[:TAG])."""
    return act.push(obj, **kw)


@click.command("login", context_settings=CONTEXT_SETTINGS)
@click.option("-u", "--username", metavar="USER", help="Username.")
@click.option("-p", "--password", metavar="PASSWORD", help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False)
@click.pass_obj
def login(obj, **kw):
    """Log in to a registry (credentials in ~/.config/layerbox/auth.json, or $LAYERBOX_CONFIG)."""
    return act.login(obj, **kw)


@click.command("logout", context_settings=CONTEXT_SETTINGS)
@click.argument("server", required=False)
@click.pass_obj
def logout(obj, **kw):
    """Log out from a registry."""
    return act.logout(obj, **kw)


register(cli, pull)
register(image_group, pull)
register(cli, push)
register(image_group, push)
register(cli, login)
register(cli, logout)
