"""Cupola's error tree.

Every error Cupola raises on purpose is a :class:`CupolaError`. The tree splits into

* :class:`UsageError` — misuse: the caller sent something wrong and can fix it
  (unknown model, invalid parameter, prompt too long, bad file to import).
* :class:`RuntimeFailure` — something failed while doing a valid thing
  (a download, a checksum, an engine crash, the network being offline).
* :class:`ControlFlow` — not failures but signals: overload (try later),
  a cancelled request.

Foreign exceptions are converted at the boundaries with ``raise ... from``.
Each class carries the HTTP status and OpenAI error ``type``/``code`` used by the
server edge; the CLI edge prints ``message`` (and ``hint`` when there is one).
"""

from __future__ import annotations


class CupolaError(Exception):
    """Base class of every error Cupola raises on purpose."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, hint: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.hint = hint
        if code is not None:
            self.code = code

    def to_openai(self) -> dict:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


# -- misuse ---------------------------------------------------------------------------------

class UsageError(CupolaError):
    """The caller asked for something invalid; fixing the request fixes it."""

    status = 400
    type = "invalid_request_error"


class InvalidParameter(UsageError):
    """A request parameter has a wrong value or type (``param`` names it)."""

    code = "invalid_parameter"


class ContextLengthExceeded(UsageError):
    """The prompt does not fit in the model's context window."""

    code = "context_length_exceeded"


class ModelNotFound(UsageError):
    """No model of that name in the catalog (or not pulled, where that matters)."""

    status = 404
    code = "model_not_found"


class NotFound(UsageError):
    """Some other named thing does not exist."""

    status = 404
    code = "not_found"


class Conflict(UsageError):
    """The thing to create already exists."""

    status = 409
    code = "already_exists"


class InvalidModelFile(UsageError):
    """A file given to import is not a usable model file."""

    code = "invalid_model_file"


class BinaryContent(UsageError):
    """A file given as a document holds binary data (an executable, an image, random bytes), not text."""

    code = "binary_content"


class AuthenticationError(UsageError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(UsageError):
    """The API key is valid but its scope does not allow this route."""

    status = 403
    type = "permission_error"
    code = "insufficient_scope"


class PayloadTooLarge(UsageError):
    """A request body (or an upload) is larger than the server accepts."""

    status = 413
    code = "payload_too_large"


# -- runtime failures -----------------------------------------------------------------------

class RuntimeFailure(CupolaError):
    """A valid operation failed."""


class DownloadError(RuntimeFailure):
    """Fetching model weights from a source failed."""

    status = 502
    code = "download_failed"


class OfflineError(DownloadError):
    """The source needs the network and the network is not there."""

    code = "offline"


class ChecksumMismatch(DownloadError):
    """Downloaded bytes do not match the catalog's sha256."""

    code = "checksum_mismatch"


class EngineError(RuntimeFailure):
    """The inference engine failed to load a model or to answer."""

    status = 500
    code = "engine_error"


class ModelLoading(RuntimeFailure):
    status = 503
    code = "model_loading"


class Unavailable(RuntimeFailure):
    """A model's engine cannot be reached (an upstream refuses connections, its circuit breaker
    is open, or a local model cannot be loaded)."""

    status = 503
    code = "model_unavailable"


class UpstreamError(RuntimeFailure):
    """An upstream server answered with an error of its own (5xx, or a body that is not OpenAI's)."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(RuntimeFailure):
    """An upstream did not answer (or send its first token) within its timeout."""

    status = 504
    code = "upstream_timeout"


# -- control flow ---------------------------------------------------------------------------

class ControlFlow(CupolaError):
    """Signals rather than failures."""


class Overloaded(ControlFlow):
    """The model's queue is full; retry after ``retry_after`` seconds."""

    status = 429
    type = "rate_limit_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Cancelled(ControlFlow):
    """The request was cancelled (its client went away)."""

    status = 499
    code = "cancelled"


# -- conversions ----------------------------------------------------------------------------

def invalid(errors: list[dict], *, prefix: str = "", skip: tuple[str, ...] = ("body",)) -> InvalidParameter:
    """The first problem of a pydantic validation (``exc.errors()``) as an :class:`InvalidParameter`.

    Used for every validated input: HTTP bodies, agent and config files, tool arguments. The
    message says where and what: ``missing required parameter: messages`` or ``invalid value for
    messages.0.role: Input should be 'system', ...``; ``prefix`` (a file name, say) goes in front.
    """
    err = errors[0] if errors else {}
    param = ".".join(str(p) for p in err.get("loc", ()) if p not in skip) or None
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "missing":
        message = f"missing required parameter: {param}"
    elif param:
        message = f"invalid value for {param}: {message}"
    return InvalidParameter(f"{prefix}: {message}" if prefix else message, param=param)
