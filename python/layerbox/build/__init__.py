"""Building images from a Dockerfile.

- :mod:`layerbox.build.dockerfile`: the Dockerfile parser (``parse``, ``parse_file``) and the
  typed instructions the builder executes.
- :mod:`layerbox.build.shellwords`: docker's variable substitution and word splitting.
- :mod:`layerbox.build.dockerignore`: ``.dockerignore`` reading, matching and the list of files
  that make up a build context.
- :mod:`layerbox.build.fnmatch_go`: Go's ``filepath.Match`` (COPY/ADD source wildcards).

This package imports nothing on its own; import the submodule you need.
"""
