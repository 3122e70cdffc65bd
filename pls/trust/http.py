"""HTTP authentication and roles for every service: 401 without a valid token, 403 without the role.

A service puts its `TokenVerifier` on `app.state.tokens`; routes declare what they need with
`Depends(requires(Role.MINISTRY_STAFF))`, or, at a province node, `operator_of_this_province`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pls.trust.tokens import Principal, Role, TokenRejected, TokenVerifier

_bearer = HTTPBearer(auto_error=False, description="A JWT from the federation's identity provider.")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="pls"'},
    )


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, from a valid bearer token; 401 otherwise. Kept on `request.state.principal`.

    A plain coroutine, called by the role checks below rather than declared as a dependency of
    theirs: every level of dependencies costs each request a pass of FastAPI's resolver."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.tokens
    # A token seen before is answered here; a new one is checked in a worker thread (checking
    # a signature, or fetching the issuer's keys, must not hold up other requests).
    principal = verifier.remembered(credentials.credentials)
    if principal is None:
        try:
            principal = await run_in_threadpool(verifier.verify, credentials.credentials)
        except TokenRejected as error:
            raise _unauthorized(str(error)) from None
    request.state.principal = principal
    return principal


def requires(
    *roles: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Principal]]:
    """A dependency that admits callers holding any of `roles`."""
    names = {role.value for role in roles}

    async def check(request: Request, credentials: Credentials) -> Principal:
        principal = await authenticated(request, credentials)
        if not principal.roles & names:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the role {' or '.join(sorted(names))}",
            )
        return principal

    return check


def province_scoped(
    *roles: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Principal]]:
    """Callers with `roles` whose `province` claim is this node's province (`app.state.province`)."""
    names = {role.value for role in roles}

    async def check(request: Request, credentials: Credentials) -> Principal:
        principal = await authenticated(request, credentials)
        province = request.app.state.province
        held = principal.roles & names
        if not held:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the role {' or '.join(sorted(names))}",
            )
        # An operator acts for one province only; the other roles are national.
        if held == {Role.PROVINCE_OPERATOR.value} and principal.province != province:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this token is for province {principal.province}, not {province}",
            )
        return principal

    return check
