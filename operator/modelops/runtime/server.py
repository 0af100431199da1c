"""The reference model server: Open Inference Protocol v2 over a bare ASGI app on uvicorn.

No web framework sits in the request path: routing four endpoints by hand is a few lines,
and every microsecond saved is throughput (the benchmark compares with MLServer). The
model loads in a worker thread after the socket is open, so liveness answers at once and
readiness turns 200 only once the artifact is loaded and its checksum verified (400 before: the
protocol's "4xx means not ready"). On SIGTERM the server drains (`DrainingServer`) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from modelops.api.v1alpha1.baseline import Baseline
from modelops.errors import ModelopsError
from modelops.models import Model, ModelError, detect_format, load
from modelops.runtime import binary
from modelops.runtime import feedback as feedback_module
from modelops.runtime import telemetry as telemetry_module
from modelops.runtime.feedback import parse_feedback, result_body
from modelops.runtime.protocol import (
    InferRequest,
    InvalidRequest,
    check_content_encoding,
    error_body,
    infer_response,
    infer_response_binary,
    parse_infer,
)
from modelops.runtime.storage.directory import directory_digest
from modelops.runtime.telemetry import CLIENT_CLOSED, Telemetry
from modelops.telemetry_contract import UNKNOWN_MODEL

log = logging.getLogger("modelops.serve")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
JSON_HEADERS = [(b"content-type", b"application/json")]
FAULT_HEADER = b"x-modelops-fault"
MODEL_SUFFIXES = (".npz", ".joblib", ".pkl", ".onnx")
SERVER_METADATA = orjson.dumps({"name": "modelops", "version": "2", "extensions": [binary.EXTENSION]})
NOT_READY = 400  # the protocol: "a 200 status code indicates true and a 4xx status code indicates false"
CONNECTION_CLOSE = (b"connection", b"close")
# On SIGTERM, how long a keep-alive connection between requests may still bring one (answered with
# `Connection: close`) before it is closed: a request already on its way is answered, not reset.
IDLE_DRAIN_SECONDS = 1.0
GRACEFUL_SHUTDOWN_SECONDS = 10  # in-flight requests get this long to finish after SIGTERM
EARLY_LATENCIES = 10_000  # latencies kept of requests refused before the model loaded (the rest counted without)
# Labels joined per turn of the event loop: a batch of 10,000 labels does not stall inference for its whole length.
FEEDBACK_CHUNK = 500


class ClientClosed(ModelopsError):
    """The client disconnected before its request body was read: nobody is left to answer."""


@dataclass
class ServeOptions:
    """Everything `modelops serve` is told."""

    model_path: Path
    name: str
    version: str
    variant: str = "stable"
    format: str = "auto"
    baseline_path: Path | None = None
    uri: str = ""
    sha256: str = ""
    signer: str = ""  # provenance, for modelops_model_info: the verified signer's key fingerprint
    retrain_run: str = ""  # and the RetrainPolicy run that produced the version
    max_body_bytes: int = 4 * 1024 * 1024
    max_rows: int = 10_000
    telemetry: bool = True
    allow_fault_injection: bool = False
    decision_threshold: float = telemetry_module.DEFAULT_THRESHOLD
    feedback_capacity: int = feedback_module.DEFAULT_CAPACITY  # predictions remembered for labels; 0: none
    feedback_max_bytes: int = feedback_module.DEFAULT_MAX_BYTES
    artifact_root: Path | None = None  # the directory artifact holding model_path (its digest is checked)


def find_model(directory: Path) -> Path:
    """The single model artifact in a directory the init container filled: a file at the top, else the
    one model file inside a directory artifact (an S3 prefix or a multi-file OCI artifact, with side files)."""
    found = sorted(p for p in directory.iterdir() if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())
    if not found:
        found = sorted(
            p
            for p in directory.rglob("*")
            if p.suffix.lower() in MODEL_SUFFIXES
            and p.is_file()
            and not p.relative_to(directory).parts[0].startswith(".")
        )
    if len(found) != 1:
        names = [str(p.relative_to(directory)) for p in found] or "none"
        raise ModelError(f"{directory}: expected exactly one model file ({', '.join(MODEL_SUFFIXES)}), found {names}")
    return found[0]


def artifact_root(directory: Path, model_path: Path) -> Path | None:
    """The directory artifact under `directory` holding `model_path`, or None for a file at the top."""
    try:
        parts = model_path.relative_to(directory).parts
    except ValueError:
        return None
    return directory / parts[0] if len(parts) > 1 else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Loaded:
    model: Model
    telemetry: Telemetry | None
    numeric_columns: list[int]  # signature numeric index of each telemetry numeric feature
    identity: bool = False  # numeric_columns is every numeric input in order: no column gather needed


def load_model(options: ServeOptions) -> Loaded:
    """Load, verify and wire telemetry; raises ModelError with a reason a person can act on."""
    path = options.model_path
    # exported in modelops_model_info, pinned or not (a pvc:// model trained in-cluster); a directory
    # artifact is identified by its directory digest (runtime.storage.directory), as fetch-model checked it
    checked = options.artifact_root or path
    actual = directory_digest(checked) if options.artifact_root else _sha256(path)
    if options.sha256 and actual != options.sha256:
        raise ModelError(f"{checked}: sha256 is {actual}, expected {options.sha256}; refusing to load")
    fmt = detect_format(path, options.format)
    model = load(path, fmt)
    if not options.telemetry:
        return Loaded(model, None, [])
    baseline = None
    if options.baseline_path is not None:
        try:
            baseline = Baseline.model_validate_json(options.baseline_path.read_bytes())
        except (OSError, ValueError) as error:
            raise ModelError(f"baseline {options.baseline_path}: {error}") from error
        names = set(model.signature.names())
        unknown = [f.name for f in baseline.features if f.name not in names]
        if unknown:
            log.warning("baseline features %s are not model inputs; they are not monitored", unknown)
        baseline = baseline.model_copy(update={"features": [f for f in baseline.features if f.name in names]})
    sig = model.signature
    telemetry = Telemetry(
        model=options.name,
        version=options.version,
        variant=options.variant,
        baseline=baseline,
        numeric_features=[f.name for f in sig.numeric],
        categorical_features={f.name: f.categories for f in sig.categorical},
        task=sig.task,
        uri=options.uri,
        sha256=actual,
        signer=options.signer,
        retrain_run=options.retrain_run,
        decision_threshold=options.decision_threshold,
        feedback_capacity=options.feedback_capacity,
        feedback_max_bytes=options.feedback_max_bytes,
    )
    if telemetry.unmonitored:
        log.warning("no baseline edges for numeric features %s: no drift histograms for them", telemetry.unmonitored)
    if telemetry_module.KERNEL is None:
        log.warning(
            "telemetry counts on the numpy path: modelops.runtime._bucketing was not built (no C compiler "
            "at install?); histograms cost about 4x more CPU per value"
        )
    position = {f.name: i for i, f in enumerate(sig.numeric)}
    columns = [position[n] for n in telemetry.numeric_names]
    return Loaded(model, telemetry, columns, identity=columns == list(range(len(sig.numeric))))


@dataclass
class _Fault:
    error: bool = False
    latency: float = 0.0


def _parse_fault(value: bytes) -> _Fault:
    fault = _Fault()
    for part in value.decode("latin-1").split(","):
        key, _, arg = part.strip().partition("=")
        if key == "error":
            fault.error = True
        elif key == "latency":
            with contextlib.suppress(ValueError):
                fault.latency = min(max(float(arg), 0.0), 30.0)
    return fault


@dataclass
class InferenceApp:
    """The ASGI application."""

    options: ServeOptions
    loaded: Loaded | None = None
    load_error: str | None = None
    draining: bool = False  # SIGTERM received: not ready, and every answer closes its connection
    _load_task: asyncio.Task[None] | None = field(default=None, repr=False)
    # latencies of inference requests answered 503 before the model (and so telemetry) was there
    _early: list[float] = field(default_factory=list, repr=False)
    _early_uncounted: int = field(default=0, repr=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._load_task = asyncio.create_task(self.load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def load(self) -> None:
        started = time.monotonic()
        try:
            loaded = await asyncio.to_thread(load_model, self.options)
        except (ModelError, OSError) as error:
            self.load_error = str(error)
            log.error("model failed to load: %s", error)
            return
        if loaded.telemetry is not None:  # the 503s answered while loading are requests too
            for seconds in self._early:
                loaded.telemetry.observe_request(503, seconds)
            for _ in range(self._early_uncounted):
                loaded.telemetry.observe_request(503, 0.0)
        self._early.clear()
        self.loaded = loaded
        log.info(
            "model %s version %s (%s) loaded in %.2fs",
            self.options.name,
            self.options.version,
            self.options.variant,
            time.monotonic() - started,
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        send = self._closing_when_draining(send)
        if path.startswith("/v2/models/"):
            parts = path[len("/v2/models/") :].split("/")
            inference = method == "POST" and parts[-1] == "infer"
            if parts[0] != self.options.name:
                await self._refuse(send, 404, UNKNOWN_MODEL, f"model {parts[0]!r} is not served here", inference)
                return
            rest = parts[1:]
            if len(rest) >= 2 and rest[0] == "versions":
                if rest[1] != self.options.version:
                    await self._refuse(send, 404, UNKNOWN_MODEL, f"version {rest[1]!r} is not served here", inference)
                    return
                rest = rest[2:]
            if rest == ["infer"] and method == "POST":
                await self._infer(scope, receive, send)
            elif rest == ["feedback"] and method == "POST":
                await self._feedback(scope, receive, send)
            elif rest == [] and method == "GET":
                await self._metadata(send)
            elif rest == ["ready"] and method == "GET":
                await self._ready(send)
            else:
                await _respond(send, 404, error_body(f"no route {method} {path}"))
        elif path == "/v2/health/live":
            await _respond(send, 200, b'{"live":true}')
        elif path == "/v2/health/ready":
            await self._ready(send)
        elif path == "/metrics" and method == "GET":
            await self._metrics(send)
        elif path == "/v2" and method == "GET":
            await _respond(send, 200, SERVER_METADATA)
        else:
            await _respond(send, 404, error_body(f"no route {method} {path}"))

    def _closing_when_draining(self, send: Send) -> Send:
        """`send` adding `Connection: close` to a response that starts during a drain (a request that
        came in before SIGTERM too), so each keep-alive client is told to go before its connection ends."""

        async def closing(message: MutableMapping[str, Any]) -> None:
            if self.draining and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), CONNECTION_CLOSE]}
            await send(message)

        return closing

    async def _ready(self, send: Send) -> None:
        if self.loaded is not None and not self.draining:
            await _respond(send, 200, b'{"ready":true}')
        else:
            state = f"failed to load: {self.load_error}" if self.load_error else "loading"
            await _respond(
                send, NOT_READY, orjson.dumps({"ready": False, "error": "draining" if self.draining else state})
            )

    async def _metadata(self, send: Send) -> None:
        if self.loaded is None:
            await _respond(send, 503, error_body("model not loaded yet"))
            return
        sig = self.loaded.model.signature
        doc = {
            "name": self.options.name,
            "versions": [self.options.version],
            "platform": detect_format(self.options.model_path, self.options.format),
            "inputs": [
                {
                    "name": f.name,
                    "datatype": "FP64" if f.type == "numeric" else "BYTES",
                    "shape": [-1],
                    **({"parameters": {"categories": list(f.categories)}} if f.categories else {}),
                }
                for f in sig.features
            ],
            "outputs": [{"name": sig.output, "datatype": "FP64", "shape": [-1], "parameters": {"task": sig.task}}],
        }
        await _respond(send, 200, orjson.dumps(doc))

    async def _metrics(self, send: Send) -> None:
        if self.loaded is None or self.loaded.telemetry is None:
            status = 503 if self.loaded is None else 404
            await _respond(send, status, b"# model not loaded\n" if status == 503 else b"# telemetry off\n")
            return
        body, content_type = self.loaded.telemetry.exposition()
        await _respond(send, 200, body, [(b"content-type", content_type.encode())])

    async def _refuse(self, send: Send, status: int, reason: str, message: str, inference: bool = False) -> None:
        """A request refused before it reaches the model; an inference request is counted by its code too."""
        if self.loaded is not None and self.loaded.telemetry is not None:
            self.loaded.telemetry.invalid(reason)
            if inference:
                self.loaded.telemetry.observe_request(status, 0.0)
        await _respond(send, status, error_body(message, reason))

    async def _infer(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        loaded = self.loaded
        if loaded is None:
            await _respond(send, 503, error_body("model not loaded yet", "not_ready"))
            if len(self._early) < EARLY_LATENCIES:
                self._early.append(time.perf_counter() - started)
            else:
                self._early_uncounted += 1
            return
        telemetry = loaded.telemetry
        status = 200
        numeric: npt.NDArray[np.float64] | None = None  # what telemetry counts once the request is answered
        scores: npt.NDArray[np.float64] | None = None
        try:
            check_content_encoding(_header(scope, b"content-encoding"))
            body = await _read_body(scope, receive, self.options.max_body_bytes)
            request = parse_infer(
                body,
                loaded.model.signature,
                max_rows=self.options.max_rows,
                header_length=_header(scope, binary.HEADER),
            )
            fault = _fault(scope) if self.options.allow_fault_injection else None
            if fault is not None and fault.latency:
                await asyncio.sleep(fault.latency)
            if fault is not None and fault.error:
                status = 500
                await _respond(send, 500, error_body("injected fault", "fault_injection"))
                return
            predicted = loaded.model.predict(request.batch)
            if telemetry is not None:
                request.id = telemetry.record_predictions(request.id, predicted)  # assigned when the request had none
                batch = request.batch
                if loaded.identity:
                    numeric = batch.numeric
                elif loaded.numeric_columns:
                    numeric = batch.numeric[:, loaded.numeric_columns]
                for name, values in batch.categorical.items():
                    telemetry.observe_categorical(name, values.tolist())
                scores = predicted
            await _answer(send, self.options, request, predicted, loaded.model.signature.output)
        except ClientClosed:
            status = CLIENT_CLOSED  # no answer: the client is gone, and it saw no 400
        except InvalidRequest as error:
            status = error.status
            if telemetry is not None:
                telemetry.invalid(error.reason)
            await _respond(send, status, error_body(str(error), error.reason))
        except Exception as error:
            status = 500
            log.exception("prediction failed")
            await _respond(send, 500, error_body(f"prediction failed: {type(error).__name__}: {error}", "model_error"))
        finally:
            if telemetry is not None:  # rows and scores are set once the model has predicted, not before
                telemetry.observe_inference(status, time.perf_counter() - started, numeric, scores)

    async def _feedback(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Labels for recorded predictions (or by value): all or nothing on malformed input, counted once each."""
        loaded = self.loaded
        if loaded is None:
            await _respond(send, 503, error_body("model not loaded yet", "not_ready"))
            return
        telemetry = loaded.telemetry
        if telemetry is None:
            await _respond(send, 404, error_body("label telemetry is off (--no-telemetry)", "feedback_off"))
            return
        off = telemetry.feedback_off_reason()
        if off is not None:
            await _respond(send, 404 if telemetry.task == "binary" else 400, error_body(off, "feedback_off"))
            return
        try:
            check_content_encoding(_header(scope, b"content-encoding"))
            body = await _read_body(scope, receive, self.options.max_body_bytes)
            items = parse_feedback(body, max_labels=self.options.max_rows)
        except ClientClosed:
            return
        except InvalidRequest as error:
            telemetry.observe_feedback_request(error.status)
            await _respond(send, error.status, error_body(str(error), error.reason))
            return
        results: list[feedback_module.Result] = []
        for start in range(0, len(items), FEEDBACK_CHUNK):
            if start:
                await asyncio.sleep(0)  # let inference requests in between chunks
            results += telemetry.feedback(items[start : start + FEEDBACK_CHUNK])
        telemetry.observe_feedback_request(200)
        await _respond(send, 200, result_body(results))


def _fault(scope: Scope) -> _Fault | None:
    value = _header(scope, FAULT_HEADER)
    return None if value is None else _parse_fault(value)


def _header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's value (ASGI servers give names lower-cased)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def _answer(
    send: Send, options: ServeOptions, request: InferRequest, scores: npt.NDArray[np.float64], output: str
) -> None:
    """JSON, or binary tensor data (with its header length, as Triton answers) when the request asked for it."""
    if not request.binary_output:
        await _respond(send, 200, infer_response(options.name, options.version, request.id, scores, output))
        return
    body, length = infer_response_binary(options.name, options.version, request.id, scores, output)
    headers = [(b"content-type", b"application/octet-stream"), (binary.HEADER, str(length).encode())]
    await _respond(send, 200, body, headers)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            raise InvalidRequest("body_too_large", f"request body of {int(value)} bytes exceeds {limit}", 413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosed("client disconnected before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidRequest("body_too_large", f"request body exceeds {limit} bytes", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


def _server_class() -> type[Any]:
    """uvicorn's Server, draining on SIGTERM and exiting 0 (built on first use: uvicorn loads lazily)."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """On SIGTERM: readiness 400 and `Connection: close` on every answer at once; stop accepting;
        keep-alive connections between requests get IDLE_DRAIN_SECONDS to bring one more (so a
        request already on its way is answered and told to close, not reset), then uvicorn closes
        the idle ones and waits up to GRACEFUL_SHUTDOWN_SECONDS for requests in flight. Exit 0: a
        requested stop is a success (uvicorn re-raises the signal, and the process died with 143)."""

        def __init__(self, config: uvicorn.Config, app: InferenceApp) -> None:
            super().__init__(config)
            self.inference_app = app

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            self.inference_app.draining = True
            for server in self.servers:
                server.close()  # stop accepting
            deadline = time.monotonic() + IDLE_DRAIN_SECONDS
            while self.server_state.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await super().shutdown(sockets)

    return DrainingServer


def run(options: ServeOptions, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain; uvicorn with httptools and uvloop when installed."""
    import uvicorn

    app = InferenceApp(options)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    _server_class()(config, app).run()
