"""Predict with an exported SavedModel: find it from a run or the model registry, then call its signature."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from seqpipe.errors import SeqpipeError

REGISTRY_PREFIX = "models:/"
URI_FORMS = "models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest"
_MAX_LISTED = 20  # names, versions or aliases listed in a not-found message


def resolve_export(target: str, tracking_uri: str | None = None) -> Path:
    """A SavedModel folder from: the folder itself, a run folder, an MLflow run id, or a registered model
    (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest``; see :func:`resolve_registered`)."""
    if str(target).startswith(REGISTRY_PREFIX):
        return resolve_registered(str(target), tracking_uri)
    path = Path(target)
    for candidate in (path, path / "export" / "saved_model"):
        if (candidate / "saved_model.pb").exists():
            return candidate
    if path.exists():
        raise SeqpipeError(f"{target}: no SavedModel here; expected a saved_model.pb in it or in export/saved_model/")
    from seqpipe.tracking.mlflow_tracker import _mlflow, resolve_tracking_uri

    mlflow = _mlflow()

    uri = resolve_tracking_uri(tracking_uri)
    if _missing_store(uri):  # opening it would create an empty database
        raise SeqpipeError(f"{target}: not a folder with a SavedModel and not a run id in {uri}")
    _reachable(target, uri)
    client = mlflow.MlflowClient(uri)
    try:
        run = client.get_run(target)
    except Exception:
        raise SeqpipeError(f"{target}: not a folder with a SavedModel and not a run id in {uri}") from None
    local = Path(run.data.tags.get("seqpipe.run_dir", "")) / "export" / "saved_model"
    if (local / "saved_model.pb").exists():
        return local
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=target, artifact_path="export/saved_model",
                                                        tracking_uri=uri))
    except Exception as exc:
        raise SeqpipeError(f"{target}: the run has no export/saved_model artifact ({exc})") from None


def served_model(target: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """``(MLflow model URI, tracking URI)`` that ``mlflow models serve`` takes for a run folder (its ``run.json``), an
    MLflow run id or a registered model URI (``models:/...``)."""
    import json

    from seqpipe.tracking.mlflow_tracker import resolve_tracking_uri

    if str(target).startswith(REGISTRY_PREFIX):
        parse_registry_uri(str(target))
        return str(target), resolve_tracking_uri(tracking_uri)
    path = Path(target)
    if path.is_dir():
        record = path / "run.json"
        if not record.is_file():
            raise SeqpipeError(f"{target}: not a run folder (no run.json); expected a run folder, an MLflow run id "
                               f"or {URI_FORMS}")
        run = json.loads(record.read_text(encoding="utf-8"))
        return f"runs:/{run['run_id']}/model", tracking_uri or run["tracking_uri"]
    if not target.isalnum():
        raise SeqpipeError(f"{target}: no such run folder, and not an MLflow run id or {URI_FORMS}")
    return f"runs:/{target}/model", resolve_tracking_uri(tracking_uri)


def parse_registry_uri(target: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or ``models:/NAME/latest``
    (version and alias None: the latest version). Anything else is a :class:`SeqpipeError`."""
    rest = target[len(REGISTRY_PREFIX):]
    bad = SeqpipeError(f"{target}: not a registered model URI; expected {URI_FORMS}")
    if rest.count("/") == 1:
        name, suffix = rest.split("/")
        if not name.strip():
            raise bad
        if suffix.isdigit():
            return name, str(int(suffix)), None
        if suffix.lower() == "latest":
            return name, None, None
        raise bad
    if "/" not in rest and "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if name.strip() and alias.strip():
            return name, None, alias
    raise bad


def resolve_registered(target: str, tracking_uri: str | None = None) -> Path:
    """The SavedModel of a registered model version, downloaded from the tracking store.

    The version's MLflow model (logged by the export stage) holds the export folder under
    ``artifacts/``: ``artifacts/saved_model`` and the files beside it (``model.keras``, a language
    model's ``text_encoder.json``), so the returned folder's parent has the layout of a run's
    ``export/``. Models in a local store are used where they are; others are downloaded once into
    ``<seqpipe cache>/models/`` (a version's files never change). A missing model, version or alias
    is one line naming what exists.
    """
    name, version, alias = parse_registry_uri(target)
    from seqpipe.tracking.mlflow_tracker import _mlflow, resolve_tracking_uri

    mlflow = _mlflow()
    uri = resolve_tracking_uri(tracking_uri)
    if _missing_store(uri):
        raise SeqpipeError(f"{target}: no tracking store at {uri}; pass --tracking-uri or set MLFLOW_TRACKING_URI")
    _reachable(target, uri)
    client = mlflow.MlflowClient(uri)
    try:
        model = client.get_registered_model(name)
    except Exception as exc:  # noqa: BLE001 -- not found, or a store that cannot be read
        if not _not_found(exc):
            raise SeqpipeError(f"{target}: cannot read the model registry in {uri} ({_first_line(exc)})") from None
        names = _registered_names(client)
        listed = (f"registered models: {', '.join(names[:_MAX_LISTED])}{', ...' if len(names) > _MAX_LISTED else ''}"
                  if names else "no model is registered there (export: {register_as: NAME} registers one)")
        raise SeqpipeError(f"{target}: no registered model '{name}' in {uri}; {listed}") from None
    versions = _versions(client, name, model)
    aliases = dict(getattr(model, "aliases", None) or {})  # alias -> version
    if alias is not None:
        if alias not in aliases:
            raise SeqpipeError(f"{target}: model '{name}' has no alias '{alias}'; "
                               f"{_aliases_text(aliases)}; {_versions_text(versions)}")
        version = str(aliases[alias])
    elif version is None:
        if not versions:
            raise SeqpipeError(f"{target}: model '{name}' has no versions in {uri}")
        version = str(versions[-1])
    elif int(version) not in versions:
        raise SeqpipeError(f"{target}: model '{name}' has no version {version}; {_versions_text(versions)}"
                           + (f"; {_aliases_text(aliases)}" if aliases else ""))
    try:
        source = client.get_model_version_download_uri(name, version)
    except Exception as exc:  # noqa: BLE001
        raise SeqpipeError(f"{target}: cannot find the files of version {version} of '{name}' "
                           f"({_first_line(exc)})") from None
    artifacts = _download(mlflow, f"{source.rstrip('/')}/artifacts", uri, target)
    for candidate in (artifacts / "saved_model", *sorted(artifacts.glob("*/saved_model"))):
        if (candidate / "saved_model.pb").exists():
            return candidate
    raise SeqpipeError(f"{target}: version {version} of '{name}' holds no SavedModel (no artifacts/saved_model/"
                       "saved_model.pb in its MLflow model); register models exported by seqpipe")


def _missing_store(uri: str) -> bool:
    from seqpipe.tracking.mlflow_tracker import sqlite_path

    db = sqlite_path(uri)
    return db is not None and not db.is_file()


def _reachable(target: str, uri: str) -> None:
    """A tracking server that does not answer is one line at once, not four minutes of MLflow's retries."""
    from seqpipe.tracking.mlflow_tracker import ensure_reachable

    try:
        ensure_reachable(uri)
    except ConnectionError as exc:
        raise SeqpipeError(f"{target}: {exc}; check --tracking-uri / MLFLOW_TRACKING_URI") from None


def _download(mlflow, artifact_uri: str, tracking_uri: str, target: str) -> Path:
    """A local folder with the files at ``artifact_uri``: the folder itself for a local store, else a cached copy."""
    from seqpipe.data.cache import cache_dir, file_lock

    scheme = urlsplit(artifact_uri).scheme
    try:
        if scheme in ("", "file"):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, tracking_uri=tracking_uri))
        key = hashlib.sha256(f"{tracking_uri}\n{artifact_uri}".encode()).hexdigest()[:20]
        folder = cache_dir() / "models" / key
        with file_lock(folder):
            if not (folder / ".complete").exists():
                partial = folder.with_name(f"{key}.partial")
                shutil.rmtree(partial, ignore_errors=True)
                shutil.rmtree(folder, ignore_errors=True)
                partial.mkdir(parents=True)
                mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, tracking_uri=tracking_uri,
                                                    dst_path=str(partial))
                (partial / "artifacts" / ".complete").write_text(f"{artifact_uri}\n", encoding="utf-8")
                (partial / "artifacts").rename(folder)
                shutil.rmtree(partial, ignore_errors=True)
        return folder
    except Exception as exc:  # noqa: BLE001
        raise SeqpipeError(f"{target}: cannot download the model's files from {artifact_uri} "
                           f"({_first_line(exc)})") from None


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def _first_line(exc: Exception) -> str:
    from seqpipe.tracking.guard import one_line

    return one_line(exc)


def _registered_names(client) -> list[str]:
    try:
        return sorted(m.name for m in client.search_registered_models(max_results=1000))
    except Exception:  # noqa: BLE001 -- the list only helps the message
        return []


def _versions(client, name: str, model) -> list[int]:
    """The model's version numbers, ascending."""
    try:
        quoted = name.replace("\\", "\\\\").replace("'", "\\'")
        found = client.search_model_versions(f"name = '{quoted}'", max_results=10000)
        return sorted(int(v.version) for v in found)
    except Exception:  # noqa: BLE001 -- a name the filter syntax cannot quote: the latest per stage
        return sorted(int(v.version) for v in (model.latest_versions or []))


def _versions_text(versions: list[int]) -> str:
    if not versions:
        return "it has no versions"
    shown = ", ".join(str(v) for v in versions[-_MAX_LISTED:])
    return f"versions: {'..., ' if len(versions) > _MAX_LISTED else ''}{shown}"


def _aliases_text(aliases: dict[str, str]) -> str:
    if not aliases:
        return "it has no aliases"
    return "aliases: " + ", ".join(f"@{a} (version {v})" for a, v in sorted(aliases.items())[:_MAX_LISTED])


def predict_table(export: Path, texts: list[str], n_best: int | None = None, params: dict | None = None,
                  task: str | None = None):
    """Run the export's signature on ``texts``; one row per text (the columns are the task's, as its served MLflow
    model answers, with request ``params``), or with ``n_best`` K one row per hypothesis: the K best per text, with
    their rank and score (tasks that decode text). ``task``: refuse an export of another task."""
    import json

    from seqpipe._quiet import import_tensorflow
    from seqpipe.tasks import TASKS

    meta = json.loads((export / "seqpipe.json").read_text()) if (export / "seqpipe.json").exists() else {}
    expected, task = task, meta.get("task")
    if task not in TASKS:
        raise SeqpipeError(f"{export}: seqpipe.json names no known task (got {task!r}); {TASKS.unknown_message(task)}")
    if expected is not None and task != expected:
        raise SeqpipeError(f"{export}: a {task} model; this command needs a {expected} model")
    tf = import_tensorflow()  # after the cheap checks of its seqpipe.json; before the runtime imports Keras noisily
    runtime = TASKS.get(task)().runtime
    model = tf.saved_model.load(str(export))
    try:
        if n_best is not None:
            return runtime.predict_nbest(model, texts, meta, int(n_best))
        accepted = runtime.serving_module().PARAMS if params else {}
        unknown = sorted(set(params or {}) - set(accepted))
        if unknown:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
            raise SeqpipeError(f"--param {unknown[0]}: not a parameter of a {task} model; {takes}")
        return runtime.predict_table(model, texts, meta, params)
    except ValueError as exc:  # the serving module's one-line refusal of an input or a parameter
        raise SeqpipeError(str(exc)) from None


def read_lines(path: str | None) -> list[str]:
    """The lines of ``path`` (``-`` or None: stdin), blank ones included (each gets its answer, as a served model
    gives one: docs/serving.md#empty-and-unknown-input); no line at all is an error."""
    if path and path != "-":
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SeqpipeError(f"{path}: cannot read input file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            line = Path(path).read_bytes()[:exc.start].count(b"\n") + 1
            raise SeqpipeError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected one "
                               "UTF-8 text per line") from None
    else:
        lines = sys.stdin.read().splitlines()
    if not lines:
        raise SeqpipeError(f"{path or 'stdin'}: no input lines; expected one text per line")
    return lines
