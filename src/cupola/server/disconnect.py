"""Cancel a request whose client goes away before its answer starts.

Starlette cancels a *streamed* answer when its client disconnects, but not an endpoint that is still
computing a plain response: a non-streaming chat completion would run to its end for nobody, holding
a slot. :class:`CancelOnDisconnect` (plain ASGI, innermost) watches the connection once the request's
body has been read: on ``http.disconnect`` before the response has started it cancels the endpoint.
The cancellation travels down the one model path: the runtime records the request as ``cancelled``,
the engine bridge closes the stream, llama.cpp stops at its next token and the slot is released when
the worker thread returns; a request still waiting for a slot leaves the queue at once.

Once the response has started, the watcher stops and leaves the connection to the response (a
streamed answer is cancelled by Starlette as before).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cupola.server")


class CancelOnDisconnect:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body_read = asyncio.Event()
        state: dict[str, Any] = {"started": False, "disconnect": None}

        async def receive_for_app() -> Message:
            if state["disconnect"] is not None:  # the watcher saw it first
                return state["disconnect"]
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read.set()
            return message

        async def send_for_app(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                watcher.cancel()  # from here on the response listens to the connection itself
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    state["disconnect"] = message
                    if not state["started"]:
                        log.info("client went away: cancelling %s %s", scope["method"], scope["path"])
                        endpoint.cancel()
                    return

        endpoint = asyncio.ensure_future(self.app(scope, receive_for_app, send_for_app))
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.shield(endpoint)
        except asyncio.CancelledError:
            if not endpoint.done():  # we were cancelled ourselves: take the endpoint with us
                endpoint.cancel()
                await asyncio.gather(endpoint, return_exceptions=True)
                raise
            if state["disconnect"] is None or not endpoint.cancelled():
                raise
            # cancelled because its client went away: nobody is left to answer
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
