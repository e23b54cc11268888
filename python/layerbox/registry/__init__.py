"""The OCI distribution client: pull, push, login, logout.

- transport.py: HTTP to a registry (http.client), its auth challenges, docker's error texts
- credentials.py: what `login` stores ($LAYERBOX_CONFIG/auth.json, ~/.config/layerbox)
- manifest.py: media types, platform choice, manifest checks, blobs known per layer
- pull.py / push.py: the two directions, layer bytes through the C++ layer engine
- api.py: the entry points for the CLI and the SDK-shaped client
"""
