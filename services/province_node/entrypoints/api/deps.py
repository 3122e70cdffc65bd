"""Dependencies of the node's routes.

They are coroutines although they do no I/O: FastAPI runs a plain function dependency in a worker
thread, and those hops cost more than the dependencies themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from pls.telemetry import current_traceparent
from pls.trust.http import province_scoped
from pls.trust.tokens import Principal, Role
from services.province_node.adapters.views import NodeViews
from services.province_node.application.node import ProvinceNode
from services.province_node.domain.context import CommandContext

if TYPE_CHECKING:
    from services.province_node.bootstrap import NodeRuntime


async def get_runtime(request: Request) -> NodeRuntime:
    return request.app.state.runtime


async def get_node(request: Request) -> ProvinceNode:
    return request.app.state.runtime.app


async def get_views(request: Request) -> NodeViews:
    return request.app.state.runtime.views


# Who may do what at a node: operators of this province work on its records; the ministry's
# services and staff read what it published.
operator = province_scoped(Role.PROVINCE_OPERATOR)
reader_of_publications = province_scoped(
    Role.PROVINCE_OPERATOR, Role.FEDERATION_SERVICE, Role.MINISTRY_STAFF, Role.FEDERATION_OPERATOR
)
publication_operator = province_scoped(Role.PROVINCE_OPERATOR, Role.FEDERATION_OPERATOR)


async def command_context(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=128,
            description="Repeat a request safely: the same key never acts twice.",
        ),
    ] = None,
) -> CommandContext:
    """The command's actor, trace and idempotency key; under overload, after a wait for the
    node's publication backlog (`adapters/backlog.py`).

    The actor is the caller the router's role check admitted (every router with commands has
    one, and FastAPI runs a router's dependencies first); asking for that check again here
    would cost each command another pass of the dependency resolver."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route with commands outside an authenticated router
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="a bearer token is required")
    backlog = request.app.state.runtime.backlog
    if backlog is not None:  # under overload, publishing what is stored comes first
        await backlog.admit()
    return CommandContext(
        actor=principal.subject, traceparent=current_traceparent(), command_id=idempotency_key
    )


Runtime = Annotated["NodeRuntime", Depends(get_runtime)]
Node = Annotated[ProvinceNode, Depends(get_node)]
Views = Annotated[NodeViews, Depends(get_views)]
Command = Annotated[CommandContext, Depends(command_context)]
