"""Select the runs to compare from the MLflow tracking store alone (for ``seqpipe compare``).

Everything here reads the store through ``MlflowClient``: no run folder is needed, so a remote
``mlflow server`` works as well as the local ``sqlite:///mlflow.db``. mlflow is imported inside
functions, and TensorFlow never is.

:func:`select_runs` picks the runs: all runs of an experiment, the nested children of a parent run
(tag ``mlflow.parentRunId``), or explicit run ids (a unique prefix such as the 8-character short id
is enough).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from seqpipe.errors import SeqpipeError
from seqpipe.registry import did_you_mean

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

PARENT_TAG = "mlflow.parentRunId"
SHORT_ID = 8
_MAX_LISTED = 30  # experiment names in a not-found message
_HEX_PREFIX = re.compile(r"[0-9a-f]{4,32}")  # what may be (the start of) a run id


def tracking_client(tracking_uri: str | None = None) -> MlflowClient:
    """An ``MlflowClient`` on the resolved store; a local sqlite store must already exist (nothing is created)."""
    from seqpipe.tracking.mlflow_tracker import (
        _mlflow,
        ensure_reachable,
        ensure_store,
        resolve_tracking_uri,
        sqlite_path,
    )

    uri = resolve_tracking_uri(tracking_uri)
    try:
        ensure_reachable(uri)
    except ConnectionError as exc:
        raise SeqpipeError(f"compare: {exc}; check --tracking-uri / MLFLOW_TRACKING_URI") from None
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise SeqpipeError(f"compare: no tracking store at {uri} (no file {db}); run a pipeline first, "
                           "or pass --tracking-uri / set MLFLOW_TRACKING_URI")
    try:
        ensure_store(uri)
        return _mlflow().MlflowClient(uri)
    except SeqpipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable store is bad input, not a bug
        raise _store_error(uri, exc) from None


def _store_error(uri: str, exc: BaseException) -> SeqpipeError:
    from seqpipe.tracking.guard import one_line

    return SeqpipeError(f"compare: cannot read the tracking store {uri} ({one_line(exc)}); "
                        "check --tracking-uri / MLFLOW_TRACKING_URI")


@contextmanager
def _few_retries() -> Iterator[None]:
    """Give up on an unreachable server after about 6 s (2 retries) instead of MLflow's 4 minutes (7 retries),
    unless the user set ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``; MLflow reads it at every request."""
    if "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in os.environ:
        yield
        return
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "2"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES", None)


def _paged(fetch) -> list:
    """All items of a paged MLflow search (``fetch(page_token)`` returns a ``PagedList``)."""
    items, token = [], None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _experiment_names(client: MlflowClient) -> list[str]:
    from mlflow.entities import ViewType

    experiments = _paged(lambda token: client.search_experiments(view_type=ViewType.ACTIVE_ONLY, page_token=token))
    return sorted(e.name for e in experiments)


def _not_found(client: MlflowClient, what: str, name: str, choices: list[str] | None = None) -> SeqpipeError:
    experiments = _experiment_names(client)
    listing = ", ".join(experiments[:_MAX_LISTED]) if experiments else "none"
    if len(experiments) > _MAX_LISTED:
        listing += f", ... ({len(experiments) - _MAX_LISTED} more)"
    hint = did_you_mean(name, choices if choices is not None else experiments)
    return SeqpipeError(f"compare: no {what} '{name}' in {client.tracking_uri}{hint}; experiments: {listing}")


def _search_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> list[Run]:
    from mlflow.entities import ViewType

    return _paged(lambda token: client.search_runs(experiment_ids, filter_string, ViewType.ACTIVE_ONLY,
                                                   page_token=token, order_by=["attributes.start_time DESC"]))


def _get_run(client: MlflowClient, run_id: str) -> Run:
    """The run with id ``run_id``, or the one run whose id starts with it (e.g. an 8-character short id)."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
    if not _HEX_PREFIX.fullmatch(run_id.lower()):  # not (part of) a run id: no need to list every run
        raise _not_found(client, "run", run_id, [])
    experiments = _paged(lambda token: client.search_experiments(view_type=ViewType.ALL, page_token=token))
    runs = _paged(lambda token: client.search_runs([e.experiment_id for e in experiments], "", ViewType.ALL,
                                                   page_token=token)) if experiments else []
    matches = [r for r in runs if r.info.run_id.startswith(run_id.lower())]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise SeqpipeError(f"compare: run id prefix '{run_id}' matches {len(matches)} runs "
                           f"({', '.join(r.info.run_id for r in matches[:5])}); give more characters")
    ids = [r.info.run_id for r in runs] + [r.info.run_id[:SHORT_ID] for r in runs]
    raise _not_found(client, "run", run_id, ids)


def select_runs(
    run_ids: Sequence[str] = (),
    *,
    experiment: str | None = None,
    parent: str | None = None,
    tracking_uri: str | None = None,
    client: MlflowClient | None = None,
) -> list[Run]:
    """The runs to compare: exactly one of ``run_ids``, ``experiment`` (its runs that are not deleted, newest
    first) or ``parent`` (the nested runs whose tag ``mlflow.parentRunId`` is that run's id).

    Raises :class:`SeqpipeError` (one line) when the selection is ambiguous, an experiment or run is not in
    the store (the message lists the experiments, with a did-you-mean), or it holds no runs.
    """
    modes = [name for name, given in (("run ids", bool(run_ids)), ("--experiment", experiment is not None),
                                      ("--parent", parent is not None)) if given]
    if len(modes) != 1:
        found = f" (got {' and '.join(modes)})" if modes else ""
        raise SeqpipeError(f"compare: give exactly one of --experiment NAME, --parent RUN_ID or run ids{found}")
    client = client or tracking_client(tracking_uri)
    try:
        with _few_retries():
            return _select(client, list(run_ids), experiment, parent)
    except SeqpipeError:
        raise
    except Exception as exc:  # an unreachable server, a broken database: MLflow wraps both in MlflowException
        from mlflow.exceptions import MlflowException

        if isinstance(exc, (MlflowException, OSError)):
            raise _store_error(client.tracking_uri, exc) from None
        raise


def _select(client: MlflowClient, run_ids: list[str], experiment: str | None, parent: str | None) -> list[Run]:
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise _not_found(client, "experiment", experiment)
        if found.lifecycle_stage == "deleted":
            raise SeqpipeError(f"compare: experiment '{experiment}' is deleted in {client.tracking_uri}; "
                               "restore it (mlflow experiments restore) to compare its runs")
        runs = _search_runs(client, [found.experiment_id])
        if not runs:
            raise SeqpipeError(f"compare: experiment '{experiment}' has no runs in {client.tracking_uri}")
        return runs
    if parent is not None:
        parent_run = _get_run(client, parent)
        parent_id = parent_run.info.run_id
        runs = _search_runs(client, [parent_run.info.experiment_id], f"tags.`{PARENT_TAG}` = '{parent_id}'")
        if not runs:
            raise SeqpipeError(f"compare: run {parent_id} ({parent_run.info.run_name}) has no nested child runs "
                               f"(runs tagged {PARENT_TAG}={parent_id})")
        return runs
    runs, seen = [], set()
    for run_id in run_ids:
        run = _get_run(client, run_id)
        if run.info.run_id not in seen:  # the same run named twice (full and short id) is one row
            seen.add(run.info.run_id)
            runs.append(run)
    return runs
