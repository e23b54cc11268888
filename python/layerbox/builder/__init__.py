"""Building images from a Dockerfile (``layerbox build``, ``client.images.build``).

- :mod:`layerbox.builder.api`: the SDK's ``build()``, and what the CLI shares with it: finding
  the context (a directory, a tar, or nothing) and the Dockerfile, and where output goes.
- :mod:`layerbox.builder.dispatch`: the classic builder's loop over stages and steps, ARG scoping,
  the metadata instructions, the cache lookups and the image each step makes.
- :mod:`layerbox.builder.runstep`: RUN, in a container of the previous step's image.
- :mod:`layerbox.builder.files`: COPY, ADD and WORKDIR, written through a private overlay mount.
- :mod:`layerbox.builder.layered`: where a path leads in an image, from its layer directories.
- :mod:`layerbox.builder.context`: the build context, ``.dockerignore`` applied; checksums.
- :mod:`layerbox.builder.cache`: the build cache's keys and its index in the store.
- :mod:`layerbox.builder.dockerfile`: the Dockerfile parser (``parse``, ``parse_file``) and the
  typed instructions the builder executes: ``lines`` (BuildKit's line parser),
  ``instructions`` (the types), ``instruction_builder`` (each instruction's flags and
  arguments checked) and ``gocompat`` (Go's durations, integers and whitespace).
- :mod:`layerbox.builder.shellwords`: docker's variable substitution and word splitting.
- :mod:`layerbox.builder.dockerignore`: ``.dockerignore`` reading, matching and the list of files
  that make up a build context.
- :mod:`layerbox.builder.fnmatch_go`: Go's ``filepath.Match`` (COPY/ADD source wildcards).

This package imports nothing on its own; import the submodule you need.
"""
