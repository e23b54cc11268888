from typing import Any

def ps_rows(containers_dir: str, ids: list[str], *, trunc: bool, now: float,
            states: dict[str, str] = ...) -> list[dict[str, Any]]: ...
