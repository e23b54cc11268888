"""Container verbs: docker's names, flags and help; the work is in layerbox.cli.actions.container."""

from __future__ import annotations

import click

from layerbox.cli.actions import container as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, container_group, register

# run and create take every option before the image; what follows the image is the command.
NO_INTERSPERSE = dict(CONTEXT_SETTINGS, allow_interspersed_args=False)


def container_options(f):
    """The options `create` and `run` share (docker's set that layerbox implements)."""
    opts = [
        click.option("--name", metavar="NAME", help="Assign a name to the container."),
        click.option("-e", "--env", multiple=True, metavar="K=V", help="Set environment variables."),
        click.option("--env-file", multiple=True, metavar="FILE",
                     help="Read in a file of environment variables."),
        click.option("-w", "--workdir", metavar="DIR", help="Working directory inside the container."),
        click.option("-u", "--user", metavar="USER[:GROUP]", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("-h", "--hostname", metavar="NAME", help="Container host name."),
        click.option("--entrypoint", metavar="CMD", help="Overwrite the default ENTRYPOINT of the image."),
        click.option("--network", "--net", "network", metavar="NETWORK",
                     help="Connect a container to a network: bridge (default), none, host or a user network."),
        click.option("-p", "--publish", multiple=True, metavar="[IP:][HOSTPORT:]PORT[/PROTO]",
                     help="Publish a container's port(s) to the host."),
        click.option("-P", "--publish-all", is_flag=True,
                     help="Publish all exposed ports to random ports."),
        click.option("--expose", multiple=True, metavar="PORT[/PROTO]",
                     help="Expose a port or a range of ports."),
        click.option("--network-alias", multiple=True, metavar="NAME",
                     help="Add network-scoped alias for the container."),
        click.option("--ip", metavar="IPV4", help="IPv4 address (e.g., 172.30.100.104)."),
        click.option("--mac-address", metavar="MAC", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)."),
        click.option("--add-host", multiple=True, metavar="HOST:IP",
                     help="Add a custom host-to-IP mapping (host:ip)."),
        click.option("--dns", multiple=True, metavar="IP", help="Set custom DNS servers."),
        click.option("--dns-search", multiple=True, metavar="DOMAIN", help="Set custom DNS search domains."),
        click.option("--dns-option", multiple=True, metavar="OPTION", help="Set DNS options."),
        click.option("-v", "--volume", multiple=True, metavar="SRC:DST[:ro]",
                     help="Bind mount a host path or a named volume."),
        click.option("--mount", multiple=True, metavar="type=bind|volume|tmpfs,...",
                     help="Attach a filesystem mount to the container."),
        click.option("--volumes-from", multiple=True, metavar="CONTAINER[:ro|:rw]",
                     help="Mount volumes from the specified container(s)."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("--init", is_flag=True, help="Run an init inside the container that forwards signals and reaps processes."),
        click.option("-m", "--memory", metavar="BYTES", help="Memory limit (e.g. 32m, 1g)."),
        click.option("--memory-swap", metavar="BYTES", help="Memory plus swap limit; -1 for unlimited swap."),
        click.option("--cpus", type=float, metavar="N", help="Number of CPUs."),
        click.option("-c", "--cpu-shares", type=int, metavar="N", help="CPU shares (relative weight)."),
        click.option("--cpu-period", type=int, metavar="N", help="Limit CPU CFS (Completely Fair Scheduler) period."),
        click.option("--cpu-quota", type=int, metavar="N", help="Limit CPU CFS (Completely Fair Scheduler) quota."),
        click.option("--cpuset-cpus", metavar="LIST", help="CPUs in which to allow execution (0-3, 0,1)."),
        click.option("--pids-limit", type=int, metavar="N", help="Tune container pids limit (-1 for unlimited)."),
        click.option("--restart", metavar="POLICY", help="Restart policy: no, on-failure[:N], always, unless-stopped."),
        click.option("-l", "--label", multiple=True, metavar="K=V", help="Set meta data on a container."),
        click.option("--stop-signal", metavar="SIGNAL", help="Signal to stop the container."),
        click.option("--stop-timeout", type=int, metavar="SECONDS", help="Timeout to stop a container."),
        click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
        click.option("--privileged", is_flag=True, help="Give extended privileges to this container."),
        click.option("--cap-add", multiple=True, metavar="CAP", help="Add Linux capabilities."),
        click.option("--cap-drop", multiple=True, metavar="CAP", help="Drop Linux capabilities."),
        click.option("--security-opt", multiple=True, metavar="OPT",
                     help="Security options: seccomp=unconfined|PROFILE.json, no-new-privileges[:true|false]."),
        click.option("--device", multiple=True, metavar="HOST[:CTR][:rwm]",
                     help="Add a host device to the container."),
        click.option("--tmpfs", multiple=True, metavar="PATH[:OPTS]", help="Mount a tmpfs directory."),
        click.option("--platform", metavar="PLATFORM", help="Set platform (only linux/amd64 here)."),
        click.option("--rm", "remove", is_flag=True, help="Automatically remove the container when it exits."),
        click.option("--health-cmd", metavar="CMD", help="Command to run to check health."),
        click.option("--health-interval", metavar="DURATION",
                     help="Time between running the check (ms|s|m|h) (default 0s)."),
        click.option("--health-timeout", metavar="DURATION",
                     help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)."),
        click.option("--health-retries", type=int, metavar="N",
                     help="Consecutive failures needed to report unhealthy."),
        click.option("--health-start-period", metavar="DURATION",
                     help="Start period for the container to initialize before starting "
                          "health-retries countdown (ms|s|m|h) (default 0s)."),
        click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
        click.option("--log-driver", metavar="DRIVER",
                     help="Logging driver for the container: json-file (default), local or none."),
        click.option("--log-opt", multiple=True, metavar="KEY=VALUE",
                     help="Log driver options (max-size, max-file)."),
        click.option("--label-file", multiple=True, metavar="FILE",
                     help="Read in a line delimited file of labels."),
        click.option("--pull", metavar="POLICY",
                     help='Pull image before running ("always"|"missing"|"never") (default "missing").'),
        click.option("--cidfile", metavar="FILE", help="Write the container ID to the file."),
        click.option("--ulimit", multiple=True, metavar="NAME=SOFT[:HARD]", help="Ulimit options."),
        click.option("--shm-size", metavar="BYTES", help="Size of /dev/shm."),
        click.option("--sysctl", multiple=True, metavar="KEY=VALUE",
                     help="Sysctl options (namespaced ones only)."),
        click.option("--oom-score-adj", type=int, metavar="N",
                     help="Tune host's OOM preferences (-1000 to 1000)."),
        click.option("--group-add", multiple=True, metavar="GROUP",
                     help="Add additional groups to join."),
        click.option("--pid", metavar="MODE", help="PID namespace to use (host)."),
        click.option("--ipc", metavar="MODE",
                     help="IPC mode to use: private, shareable, host or container:NAME."),
        click.option("--uts", metavar="MODE", help="UTS namespace to use (host)."),
        click.option("-a", "--attach", multiple=True, metavar="STREAM",
                     help="Attach to STDIN, STDOUT or STDERR."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@click.command("run", context_settings=NO_INTERSPERSE)
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID.")
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(obj, **kw):
    """Create and run a new container from an image."""
    return act.run(obj, **kw)


@click.command("create", context_settings=NO_INTERSPERSE)
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def create(obj, **kw):
    """Create a new container."""
    return act.create(obj, **kw)


@click.command("start", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def start(obj, **kw):
    """Start one or more stopped containers."""
    return act.start(obj, **kw)


@click.command("ps", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Filter output: status, name, id, label, ancestor, exited, health.")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.pass_obj
def ps(obj, **kw):
    """List containers."""
    return act.ps(obj, **kw)


@click.command("stop", context_settings=CONTEXT_SETTINGS)
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.option("-s", "--signal", metavar="SIGNAL", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def stop(obj, **kw):
    """Stop one or more running containers."""
    return act.stop(obj, **kw)


@click.command("restart", context_settings=CONTEXT_SETTINGS)
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def restart(obj, **kw):
    """Restart one or more containers."""
    return act.restart(obj, **kw)


@click.command("kill", context_settings=CONTEXT_SETTINGS)
@click.option("-s", "--signal", default="KILL", metavar="SIGNAL", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def kill(obj, **kw):
    """Kill one or more running containers."""
    return act.kill(obj, **kw)


@click.command("pause", context_settings=CONTEXT_SETTINGS)
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def pause(obj, **kw):
    """Pause all processes within one or more containers."""
    return act.pause(obj, **kw)


@click.command("unpause", context_settings=CONTEXT_SETTINGS)
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def unpause(obj, **kw):
    """Unpause all processes within one or more containers."""
    return act.unpause(obj, **kw)


@click.command("rm", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def rm(obj, **kw):
    """Remove one or more containers."""
    return act.rm(obj, **kw)


@click.command("wait", context_settings=CONTEXT_SETTINGS)
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def wait(obj, **kw):
    """Block until one or more containers stop, then print their exit codes."""
    return act.wait(obj, **kw)


@click.command("exec", context_settings=NO_INTERSPERSE)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-e", "--env", multiple=True, metavar="K=V", help="Set environment variables.")
@click.option("--env-file", multiple=True, metavar="FILE", help="Read in a file of environment variables.")
@click.option("-w", "--workdir", metavar="DIR", help="Working directory inside the container.")
@click.option("-u", "--user", metavar="USER[:GROUP]", help="Username or UID.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, **kw):
    """Execute a command in a running container."""
    return act.exec_(obj, **kw)


exec_.name = "exec"


@click.command("logs", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", metavar="N", help="Number of lines to show from the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", metavar="TIME", help="Show logs since timestamp (RFC 3339) or relative (e.g. 42m).")
@click.option("--until", metavar="TIME", help="Show logs before a timestamp or relative time.")
@click.argument("container")
@click.pass_obj
def logs(obj, **kw):
    """Fetch the logs of a container."""
    return act.logs(obj, **kw)


@click.command("top", context_settings=dict(CONTEXT_SETTINGS, ignore_unknown_options=True,
                                            allow_interspersed_args=False))  # ps's own options
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def top(obj, **kw):
    """Display the running processes of a container."""
    return act.top(obj, **kw)


@click.command("port", context_settings=CONTEXT_SETTINGS)
@click.argument("container")
@click.argument("port", required=False)
@click.pass_obj
def port(obj, **kw):
    """List port mappings or a specific mapping for the container."""
    return act.port(obj, **kw)


@click.command("rename", context_settings=CONTEXT_SETTINGS)
@click.argument("container")
@click.argument("new_name")
@click.pass_obj
def rename(obj, **kw):
    """Rename a container."""
    return act.rename(obj, **kw)


@click.command("update", context_settings=CONTEXT_SETTINGS)
@click.option("-m", "--memory", metavar="BYTES", help="Memory limit.")
@click.option("--memory-swap", metavar="BYTES", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap.")
@click.option("--cpus", type=float, metavar="N", help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, metavar="N", help="CPU shares (relative weight).")
@click.option("--cpu-period", type=int, metavar="N", help="Limit CPU CFS (Completely Fair Scheduler) period.")
@click.option("--cpu-quota", type=int, metavar="N", help="Limit CPU CFS (Completely Fair Scheduler) quota.")
@click.option("--cpuset-cpus", metavar="LIST", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--pids-limit", type=int, metavar="N", help="Tune container pids limit (set -1 for unlimited).")
@click.option("--restart", metavar="POLICY", help="Restart policy to apply when a container exits.")
# docker's flags for limits layerbox does not set: refused by name (update.UNSUPPORTED)
@click.option("--blkio-weight", type=int, metavar="N", help="Not supported by layerbox.")
@click.option("--cpu-rt-period", type=int, metavar="N", help="Not supported by layerbox.")
@click.option("--cpu-rt-runtime", type=int, metavar="N", help="Not supported by layerbox.")
@click.option("--cpuset-mems", metavar="LIST", help="Not supported by layerbox.")
@click.option("--memory-reservation", metavar="BYTES", help="Not supported by layerbox.")
@click.option("--kernel-memory", metavar="BYTES", help="Not supported by layerbox.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def update(obj, **kw):
    """Update configuration of one or more containers."""
    return act.update(obj, **kw)


@click.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.option("--type", "type_", type=click.Choice(["container", "image"]), help="Only inspect objects of this type.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, **kw):
    """Return low-level information on containers or images."""
    return act.inspect(obj, **kw)


@click.command("prune", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Provide filter values (label=...).")
@click.pass_obj
def container_prune(obj, **kw):
    """Remove all stopped containers."""
    return act.prune(obj, **kw)


for _cmd in (run, create, start, ps, stop, restart, kill, pause, unpause, rm, wait, exec_, logs,
             top, rename, port, update):
    register(cli, _cmd)
    register(container_group, _cmd)
register(container_group, ps, "ls", "list")
register(container_group, container_prune, "prune")
register(container_group, inspect, "inspect")
register(cli, inspect)
