from typing import Any

def ps_rows(containers_dir: str, ids: list[str], *, trunc: bool, now: float,
            states: dict[str, str] = ..., cache: str = ..., cache_tmp: str = ...) -> list[dict[str, Any]]: ...
def ps_table(containers_dir: str, ids: list[str], *, trunc: bool, now: float,
             states: dict[str, str] = ..., health: dict[str, str] = ..., last: int = ..., cache: str = ...,
             cache_tmp: str = ...) -> str | None: ...
def api_summaries(containers_dir: str, ids: list[str], *, volumes: str, now: float,
                  states: dict[str, str] = ..., health: dict[str, str] = ..., last: int = ...,
                  cache: str = ..., cache_tmp: str = ...) -> bytes | None: ...
