"""MLflow tracker: logs through ``MlflowClient`` with explicit run ids.

mlflow is imported inside functions (with telemetry off unless the user set
``MLFLOW_DISABLE_TELEMETRY``), so importing this module stays cheap.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TypeVar
from urllib.parse import unquote

from seqpipe.errors import SeqpipeError
from seqpipe.tracking.base import TRACKERS, Tracker, check_status
from seqpipe.tracking.params import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE_LENGTH,
    flatten_params,
    safe_key,
)

PYFUNC_MODEL_CODE = Path(__file__).resolve().parents[1] / "export" / "pyfunc_model.py"
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves a local store by default

_READY_STORES: set[str] = set()
T = TypeVar("T")


def _mlflow():
    """Import mlflow, turning its telemetry off unless the user chose a setting.

    Unless set otherwise, MLflow also keeps quiet: no INFO lines, no download progress bars, and no
    "View run at" links printed to stdout when a run on a tracking server ends (stdout is for
    ``seqpipe run --json`` and ``seqpipe predict``).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no INFO lines on schema creation
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import mlflow

    return mlflow


def resolve_tracking_uri(uri: str | None) -> str:
    """``uri`` if given, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``."""
    if uri:
        return uri
    if env_uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return env_uri
    return f"sqlite:///{(Path.cwd() / 'mlflow.db').as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and in-memory ones."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return Path(path) if path and path != ":memory:" else None


def ensure_store(uri: str) -> None:
    """Create and migrate a sqlite store once, holding an exclusive lock on ``<db>.lock``.

    MLflow builds the schema when a store is first opened; processes that open a missing
    database at the same time race on that migration and die. Other stores are left alone.
    """
    db = sqlite_path(uri)
    if db is None or uri in _READY_STORES:
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as lock:  # closing the file releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        _mlflow().MlflowClient(uri).search_experiments(max_results=1)
    _READY_STORES.add(uri)


def ensure_reachable(uri: str, timeout: float = 10.0) -> None:
    """Fail at once, with ``ConnectionError``, when nothing answers at an ``http(s)://`` tracking URI.

    MLflow retries a refused connection for about four minutes before it gives up; this probe
    (one plain GET of the URI, through the same proxies MLflow would use) makes an unreachable
    server an error within ``timeout`` seconds. Any HTTP answer counts as reachable (a login page,
    a 404 behind a path prefix), and so does a TLS problem, which MLflow reports better. Other
    stores are left alone.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    try:
        requests.get(uri, timeout=(timeout, 3 * timeout), allow_redirects=False).close()
    except requests.exceptions.SSLError:
        return
    except requests.exceptions.Timeout:
        raise ConnectionError(f"the tracking server at {uri} did not answer within {timeout:.0f} s") from None
    except requests.exceptions.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        raise ConnectionError(f"no tracking server answers at {uri} ({reason})") from None


@contextmanager
def _global_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Make ``tracking_uri`` MLflow's global tracking URI for the block, for MLflow code that reads only that.

    The global URI, and the ``MLFLOW_TRACKING_URI`` variable MLflow mirrors it into, are restored afterwards.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    saved_env_uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(tracking_uri):
            yield
    finally:
        if saved_env_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env_uri


@contextmanager
def _fluent_run(tracking_uri: str, run_id: str) -> Iterator[None]:
    """Make ``run_id`` MLflow's active run for the block, for APIs that only log there.

    The run is pushed as a nested run, so a caller's own active run stays put, and popped
    with status RUNNING, so its final status is still the tracker's to set. The global
    tracking URI is restored afterwards (see :func:`_global_tracking_uri`).
    """
    mlflow = _mlflow()
    with _global_tracking_uri(tracking_uri):
        mlflow.start_run(run_id=run_id, nested=True)
        try:
            yield
        finally:
            mlflow.end_run("RUNNING")


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@TRACKERS.register("mlflow")
class MLflowTracker(Tracker):
    """Logs runs to MLflow.

    Every call names its run id, so trackers never log into each other's runs (the fluent
    active run is used only for the moment ``log_pyfunc_model`` needs it). In a sqlite
    store, experiments this tracker creates keep their artifacts next to the database,
    in ``mlruns/<experiment name>/``.
    """

    def __init__(self, tracking_uri: str | None = None):
        self._tracking_uri = resolve_tracking_uri(tracking_uri)
        self._client = None
        self._run_id: str | None = None
        self._experiment_id: str | None = None
        self._active = False

    def start(self, experiment: str, run_name: str, tags: dict[str, str]) -> str:
        if self._active:
            raise RuntimeError(f"run {self._run_id} is still active; end it first")
        ensure_reachable(self._tracking_uri)
        ensure_store(self._tracking_uri)
        self._client = _mlflow().MlflowClient(self._tracking_uri)
        self._experiment_id = self._get_or_create_experiment(experiment)
        run = self._client.create_run(self._experiment_id, run_name=run_name, tags=_tags(tags))
        self._run_id = run.info.run_id
        self._active = True
        return self._run_id

    def resume(self, run_id: str) -> str:
        if self._active:
            raise RuntimeError(f"run {self._run_id} is still active; end it first")
        ensure_reachable(self._tracking_uri)
        ensure_store(self._tracking_uri)
        self._client = _mlflow().MlflowClient(self._tracking_uri)
        try:
            run = self._client.get_run(run_id)
        except Exception as exc:  # noqa: BLE001
            raise SeqpipeError(f"tracking: run {run_id} is not in {self._tracking_uri} ({type(exc).__name__}); "
                               "resume with the tracking store the run was started with") from None
        self._client.update_run(run_id, status="RUNNING")
        self._run_id, self._experiment_id, self._active = run_id, run.info.experiment_id, True
        return run_id

    def log_params(self, params: dict[str, object]) -> None:
        from mlflow.entities import Param

        run_id = self._current_run()
        items = [Param(key, value) for key, value in flatten_params(params).items()]
        for batch in _batches(items, MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=batch)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        run_id = self._current_run()
        now = int(time.time() * 1000)
        keys = _distinct_keys(metrics)
        items = [Metric(keys[k], float(v), now, step or 0) for k, v in metrics.items()]
        for batch in _batches(items, MAX_METRICS_PER_BATCH):
            self._client.log_batch(run_id, metrics=batch)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        run_id = self._current_run()
        items = [RunTag(key, value) for key, value in _tags(tags).items()]
        for batch in _batches(items, MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, tags=batch)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        run_id = self._current_run()
        if not Path(path).exists():
            raise FileNotFoundError(f"artifact not found: {path}")
        self._client.log_artifact(run_id, str(path), artifact_path)

    def log_pyfunc_model(
        self, saved_model_dir: Path, *, pip_requirements: list[str], serving, name: str = "model",
        extra_artifacts: dict[str, Path] | None = None,
    ) -> str:
        """Log ``saved_model_dir`` with ``seqpipe/export/pyfunc_model.py`` as a pyfunc model.

        The model takes the column ``serving.INPUT`` (of MLflow type ``serving.INPUT_TYPE``; the request
        parameters ``serving.PARAMS``) and answers with ``serving.predict``'s table (``serving`` is the task's
        serving module, copied into the model as the artifact ``seqpipe_serving.py``); it loads without seqpipe. The
        SavedModel is stored under its folder name (``export/saved_model`` as ``artifacts/saved_model``);
        ``extra_artifacts`` (``{key: path}``) go beside it under their own file names
        (``artifacts/model.keras``, ...), so the model's ``artifacts/`` folder has the layout of the
        run's ``export/`` folder.
        """
        import shutil
        import tempfile

        mlflow = _mlflow()
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

        serving_file = "seqpipe_serving.py"  # the artifact "serving" that the wrapper loads
        artifacts, names = {"saved_model": str(saved_model_dir)}, {Path(saved_model_dir).name, serving_file}
        for key, path in (extra_artifacts or {}).items():
            if key in artifacts or key == "serving" or Path(path).name in names:  # MLflow would number a second one
                raise ValueError(f"extra artifact {key!r}: its name or file name {Path(path).name!r} is taken")
            if not Path(path).exists():
                raise FileNotFoundError(f"artifact not found: {path}")
            artifacts[key] = str(path)
            names.add(Path(path).name)
        # the column is optional to MLflow so that a request without it reaches the model, which refuses it in one
        # line (MLflow's own schema error repeats the whole request)
        signature = ModelSignature(
            inputs=Schema([ColSpec(serving.INPUT_TYPE, serving.INPUT, required=False)]),
            params=ParamSchema([ParamSpec(k, "string", v) for k, v in serving.PARAMS.items()]) if serving.PARAMS
            else None)
        with tempfile.TemporaryDirectory() as code, _fluent_run(self._tracking_uri, self._current_run()), \
                warnings.catch_warnings():
            artifacts["serving"] = str(Path(code) / serving_file)
            shutil.copyfile(serving.__file__, artifacts["serving"])
            # an input example makes MLflow 3.17 run the model at log time; the signature says enough
            warnings.filterwarnings("ignore", message=".*An input example was not provided")
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=str(PYFUNC_MODEL_CODE),
                artifacts=artifacts,
                pip_requirements=pip_requirements,
                signature=signature,
            )
        return info.model_uri

    def register_model(self, model_uri: str, name: str, tags: dict[str, str]) -> str:
        """Register the logged model ``model_uri`` (``models:/<model id>``) as a new version of ``name``.

        The registered model is created when missing (another process creating it at the same
        moment is fine). ``tags`` become the version's tags (keys made MLflow-safe, values strings).
        Returns the new version number as a string.
        """
        from mlflow.exceptions import MlflowException

        run_id = self._current_run()
        client = self._client
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # a sqlite registry looks the logged model up through MLflow's global tracking URI
        with _global_tracking_uri(self._tracking_uri):
            version = client.create_model_version(
                name, model_uri, run_id=run_id, tags=_tags(tags), model_id=_logged_model_id(model_uri),
                await_creation_for=60,
            )
        return str(version.version)

    def end(self, status: str = "FINISHED") -> None:
        check_status(status)
        if self._active:
            self._client.set_terminated(self._run_id, status)
            self._active = False

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    @property
    def ui_url(self) -> str | None:
        """The run's page: on the tracking server, or on ``mlflow ui`` for local stores."""
        if self._run_id is None:
            return None
        uri = self._tracking_uri
        base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_UI
        return f"{base}/#/experiments/{self._experiment_id}/runs/{self._run_id}"

    def _current_run(self) -> str:
        if not self._active:
            raise RuntimeError("no active run; call start() first")
        return self._run_id

    def _get_or_create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self._client.create_experiment(name, self._artifact_location(name))
            except MlflowException:  # another process created it in the meantime
                experiment = self._client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            raise SeqpipeError(
                f"experiment '{name}' is deleted in {self._tracking_uri}; "
                "restore it (mlflow experiments restore) or choose another name"
            )
        return experiment.experiment_id

    def _artifact_location(self, experiment: str) -> str | None:
        db = sqlite_path(self._tracking_uri)
        if db is None:
            return None
        folder = re.sub(r"[^\w-]", "_", experiment)
        return (db.resolve().parent / "mlruns" / folder).as_uri()


def _distinct_keys(names) -> dict[str, str]:
    """``{name: safe_key(name)}``; ValueError when two names would become one key (MLflow would refuse
    or merge them). Names built from user data go through ``escape_name`` first, so this does not happen."""
    keys: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        key = safe_key(name)
        if key in seen and seen[key] != name:
            raise ValueError(f"metric names {seen[key]!r} and {name!r} both become the MLflow key {key!r}")
        seen[key], keys[name] = name, key
    return keys


def _logged_model_id(model_uri: str) -> str | None:
    """``m-...`` of a logged model's URI ``models:/m-...``; None for other URIs."""
    rest = model_uri[len("models:/"):] if model_uri.startswith("models:/") else ""
    return rest if rest and not any(c in rest for c in "/@") else None


def _tags(tags: dict[str, str]) -> dict[str, str]:
    return {safe_key(key): str(value)[:MAX_TAG_VALUE_LENGTH] for key, value in tags.items()}
