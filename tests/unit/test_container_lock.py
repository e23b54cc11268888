"""The per-container lock of a container whose directory is gone."""

import pytest

from layerbox.errors import ContainerNotFound
from layerbox.store import Store


def test_the_lock_of_a_removed_container_says_no_such_container(tmp_path):
    """A command that resolved a container and then takes its lock after an `rm` (or an --rm
    container's monitor) removed it answers docker's "No such container" (the soak test saw
    commit print the raw path error), and a present one is locked as before."""
    store = Store(str(tmp_path))
    (tmp_path / "containers" / "here").mkdir(parents=True)
    with store.container_lock("here") as lock:
        assert lock.fd >= 0
    with pytest.raises(ContainerNotFound, match="^No such container: gone$"):
        with store.container_lock("gone"):
            pass
