"""What every HTTP service shares: health and metrics routes, tracing, error shapes, page envelopes."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pls.telemetry import tracer

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Labelled by service: several services (province nodes) may share a process and its registry.
REQUESTS = Counter(
    "pls_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "pls_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Page(BaseModel, Generic[T]):
    """A page of results, in the Open Referral HSDS envelope."""

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[T]

    @classmethod
    def of(cls, items: Sequence[T], *, total: int, page: int, per_page: int) -> Page[T]:
        pages = max(1, math.ceil(total / per_page)) if per_page else 1
        return cls(
            total_items=total,
            total_pages=pages,
            page_number=page,
            size=len(items),
            first_page=page == 1,
            last_page=page >= pages,
            empty=not items,
            contents=list(items),
        )


class Problem(BaseModel):
    """The body of every error response: what went wrong, in a sentence a person can act on."""

    detail: Any = Field(description="What is wrong, naming the field or rule.")
    error: str | None = Field(default=None, description="The name of the rule that was broken.")


def problem(
    status: int, detail: Any, error: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if error:
        body["error"] = error
    return JSONResponse(body, status_code=status, headers=headers)


class InvalidInput(ValueError):
    """Input that passed the schema but breaks a rule about its value; answered with 422."""

    def __init__(self, field: str, message: str, location: str = "body") -> None:
        self.field = field
        self.message = message
        self.location = location
        super().__init__(f"{field}: {message}")

    @classmethod
    def from_value_error(cls, error: ValueError) -> InvalidInput:
        field, _, message = str(error).partition(": ")
        return cls(field, message) if message else cls("body", field)


def json_of(model: BaseModel, status: int = 200) -> Response:
    """A model already built and checked, serialised once (FastAPI would validate it again)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def page_beyond_end(page: int, total_pages: int, total: int) -> JSONResponse | None:
    """A page past the last one is a client error that says where the end is."""
    if page > 1 and page > total_pages:
        return problem(
            404,
            f"page: {page} is beyond the last page ({total_pages}; {total} items)",
            "PageOutOfRange",
        )
    return None


def ops_router(ready: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Not ready"}})
    async def readyz() -> JSONResponse:
        """The service can do its work: its database answers and its consumers are not stuck."""
        is_ready, details = await ready()
        return JSONResponse({"ready": is_ready, **details}, status_code=200 if is_ready else 503)

    @router.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _describe(errors: Sequence[Any]) -> list[dict[str, Any]]:
    described = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        field = ".".join(
            location[1:]
            if location[:1] in (["body"], ["query"], ["path"], ["header"])
            else location
        )
        described.append(
            {
                "loc": error.get("loc"),
                "field": field,
                "msg": error.get("msg"),
                "type": error.get("type"),
            }
        )
    return described


def install_common(app: FastAPI, service: str, *, max_body_bytes: int = 1_048_576) -> None:
    """Error shapes, tracing and metrics middleware, and a request size limit."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The input is left out: it may hold personal data, and the client already has it.
        return JSONResponse({"detail": _describe(exc.errors())}, status_code=422)

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": [exc.location, *exc.field.split(".")],
                        "field": exc.field,
                        "msg": exc.message,
                        "type": "value_error",
                    }
                ]
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "internal error; it has been logged", "InternalError")

    app.add_middleware(_Edge, service=service, max_body_bytes=max_body_bytes)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
        b"https://fastapi.tiangolo.com; frame-ancestors 'none'",
    ),
]
API_HEADERS = [*SECURITY_HEADERS, (b"cache-control", b"no-store")]


class _TooLarge(Exception):
    pass


class _Edge:
    """What every request passes through, in one layer (each layer costs every request an extra
    coroutine, and every message it sends an extra call):

    - bodies over `max_body_bytes` are refused with 413 before the application reads them;
    - security headers on every response; API answers are never cached (they may hold personal
      data);
    - one server span and one latency observation per request."""

    def __init__(self, app: ASGIApp, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.tracer = tracer(service)
        self.service = service
        self.max_bytes = max_body_bytes
        self._observers: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = API_HEADERS if scope["path"].startswith("/v1/") else SECURITY_HEADERS
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._too_large(scope, receive, sending)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        method = scope["method"]
        started = time.perf_counter()
        with self.tracer.start_as_current_span(f"{method} {scope['path']}") as span:
            try:
                await self.app(scope, limited, sending)
            except _TooLarge:
                await self._too_large(scope, receive, sending)
            finally:
                path = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{method} {path}")
                span.set_attribute("http.status_code", status)
                count, latency = self._observer(method, path, status)
                count.inc()
                latency.observe(time.perf_counter() - started)

    def _observer(self, method: str, path: str, status: int) -> tuple[Any, Any]:
        """The metric children of a route and status (looked up once, not per request)."""
        key = (method, path, status)
        found = self._observers.get(key)
        if found is None:
            found = (
                REQUESTS.labels(self.service, method, path, str(status)),
                LATENCY.labels(self.service, method, path),
            )
            if len(self._observers) < 4096:  # paths are route templates; unmatched is one
                self._observers[key] = found
        return found

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem(413, f"request body over {self.max_bytes} bytes", "PayloadTooLarge")(
            scope, receive, send
        )


class RateLimit:
    """Per-client token buckets for public read APIs: `rate` requests a second, bursts of `burst`.

    A client over its budget gets 429 with `Retry-After` (whole seconds) instead of a slower answer
    for everyone. Operations routes are never limited. Clients are told apart by their address, or
    by the first `X-Forwarded-For` entry when the service sits behind a trusted proxy.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        burst: int,
        trust_forwarded_for: bool = False,
        max_clients: int = 100_000,
    ) -> None:
        from collections import OrderedDict

        self.app = app
        self.rate = rate
        self.burst = max(1, burst)
        self.trust_forwarded_for = trust_forwarded_for
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _client(self, scope: Scope) -> str:
        if self.trust_forwarded_for:
            forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-for")
            if forwarded:
                return forwarded.decode("latin-1").split(",")[0].strip()
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def take(self, client: str, now: float) -> float:
        """Spend one token; 0 when allowed, else the seconds until one is available."""
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"].startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        import time

        wait = self.take(self._client(scope), time.monotonic())
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await problem(
                429,
                f"too many requests from this client; at most {self.rate:g} a second "
                f"(bursts of {self.burst}); retry after {seconds} s",
                "RateLimited",
                headers={"Retry-After": str(seconds)},
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)
