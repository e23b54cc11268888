"""What every command needs: the store root and lazily built engines."""

from __future__ import annotations


class CliContext:
    __slots__ = ("root", "_store", "_engine", "_images")

    def __init__(self, root: str | None = None):
        self.root = root
        self._store = None
        self._engine = None
        self._images = None

    @property
    def store(self):
        if self._store is None:
            from layerbox.store import Store

            self._store = Store(self.root)
        return self._store

    @property
    def images(self):
        if self._images is None:
            if self._engine is not None:
                self._images = self._engine.images
            else:
                from layerbox.image.store import ImageStore

                self._images = ImageStore(self.store)
        return self._images

    @property
    def engine(self):
        if self._engine is None:
            from layerbox.container.engine import ContainerEngine

            self._engine = ContainerEngine(self.store, self._images)
        return self._engine
