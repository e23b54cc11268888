"""The one signal parser (layerbox.signals): what docker's ParseSignal takes, within the kernel's
range, for kill, stop, --stop-signal, STOPSIGNAL and commit -c alike."""

import pytest

from layerbox import signals
from layerbox.errors import InvalidArgument

GOOD = [("SIGTERM", 15), ("sigkill", 9), ("KILL", 9), ("term", 15), ("9", 9), ("+9", 9), (9, 9),
        ("SIGRTMIN", 34), ("RTMIN+3", 37), ("SIGRTMIN+15", 49), ("RTMAX", 64), ("SIGRTMAX-1", 63),
        ("rtmax-14", 50), ("SIGUSR1", 10), ("CLD", 17), ("64", 64)]
BAD = ["0", "-1", "65", "100", 0, -9, 100, "SIGNOPE", "", "SIG", "RTMIN+16", "RTMAX-15",
       "RTMAX+1", "1.5", "\u0669"]


@pytest.mark.parametrize("text,number", GOOD)
def test_docker_signal_names_and_numbers(text, number):
    assert signals.parse(text) == number
    assert signals.valid(text)


@pytest.mark.parametrize("text", BAD)
def test_invalid_signals_are_named_in_the_error(text):
    with pytest.raises(InvalidArgument, match=r"^Invalid signal: "):
        signals.parse(text)
    assert not signals.valid(text)


def test_stopsignal_and_the_engine_share_the_parser():
    # The builder used to take RTMAX-1 and numbers above 64 that stop and kill then refused:
    # both now go through layerbox.signals.
    from layerbox.builder.dockerfile import parse

    df = parse("FROM scratch\nSTOPSIGNAL $S\n", "Dockerfile")
    inst = df.stages[0].instructions[0]
    assert inst.expanded({"S": "SIGRTMAX-1"}).signal == "SIGRTMAX-1"
    with pytest.raises(InvalidArgument, match=r"Invalid signal: 100"):
        inst.expanded({"S": "100"})
