"""Single sign-on through the platform's OpenID Connect provider: how people may sign in, the
start (to the provider) and the callback (a session, its tokens handed to the GUI in a URL
fragment). Refusals go back to the GUI's `/sign-in?error=<code>`, the reason logged."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from flowui.server.context import ServerContext
from flowui.server.deps import ContextDep, SessionDep
from flowui.server.routers.auth import issue_tokens
from flowui.server.services import audit
from flowui.server.services.access import start_session
from flowui.server.services.oidc import (
    SIGN_IN_ERRORS,
    SignInError,
    new_attempt,
    open_attempt,
    seal_attempt,
    sign_in_user,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["auth"])

START_PATH = "/api/auth/oidc/start"
CALLBACK_PATH = "/api/auth/oidc/callback"
# The GUI's routes: where a signed-in browser lands (tokens in the fragment), and where a
# refused one does (`?error=<code>`, a key of `sign_in_errors`).
SIGNED_IN_PAGE = "/signed-in"
SIGN_IN_PAGE = "/sign-in"
# The sign-in attempt's cookie: sent back only to the callback, only by a top-level navigation.
ATTEMPT_COOKIE = "flowui_oidc_sign_in"
ATTEMPT_COOKIE_PATH = "/api/auth/oidc"
# Nothing of the answer is kept or sent on (the fragment holds tokens).
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class SingleSignOn(BaseModel):
    name: str = Field(description="The provider's name, for the 'Sign in with <name>' button.")
    start_url: str = Field(description="Where the button goes (a browser navigation).")


class SignInMethods(BaseModel):
    password: bool = Field(description="Whether e-mail and password sign in (and sign up).")
    registration: bool = Field(description="Whether anyone may sign up with a password.")
    single_sign_on: SingleSignOn | None = Field(description="The provider; null: none.")
    sign_in_errors: dict[str, str] = Field(
        description="What to say for `/sign-in?error=<code>` after a refused single sign-on."
    )


@router.get("/providers")
def sign_in_methods(context: ContextDep) -> SignInMethods:
    """How people sign in here (no sign-in needed): passwords, a single sign-on provider, or
    both."""
    provider = context.oidc
    return SignInMethods(
        password=context.password_login,
        registration=context.password_login and context.allow_registration,
        single_sign_on=None
        if provider is None
        else SingleSignOn(name=provider.name, start_url=START_PATH),
        sign_in_errors=SIGN_IN_ERRORS,
    )


def _callback_url(context: ServerContext, request: Request) -> str:
    public = context.oidc.public_url if context.oidc is not None else None
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return base + CALLBACK_PATH


def _refused(error: SignInError) -> RedirectResponse:
    log.warning("single sign-on refused (%s): %s", error.code, error.reason)
    response = RedirectResponse(
        f"{SIGN_IN_PAGE}?{urlencode({'error': error.code})}", status_code=303, headers=_PRIVATE
    )
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_COOKIE_PATH)
    return response


@router.get(
    "/oidc/start",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the provider's sign-in page."}},
)
def start_single_sign_on(request: Request, context: ContextDep) -> RedirectResponse:
    """Send the browser to the provider (authorization code flow with PKCE); it comes back to
    the callback."""
    if context.oidc is None:
        return _refused(SignInError("not_configured", "FLOWUI_OIDC_ISSUER is not set"))
    attempt = new_attempt(_callback_url(context, request))
    try:
        url = context.oidc.authorization_url(attempt)
    except SignInError as error:
        return _refused(error)
    response = RedirectResponse(url, status_code=303, headers=_PRIVATE)
    response.set_cookie(
        ATTEMPT_COOKIE,
        seal_attempt(context.keys.signing_key, attempt),
        max_age=600,
        path=ATTEMPT_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=attempt.redirect_uri.startswith("https://"),
    )
    return response


@router.get(
    "/oidc/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {
            "description": f"To the GUI's {SIGNED_IN_PAGE}#access_token=...&refresh_token=..., "
            f"or to {SIGN_IN_PAGE}?error=<code>."
        }
    },
)
def finish_single_sign_on(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: checks the state against this browser's
    cookie, exchanges the code, verifies the ID token, signs the user in (created on first
    sign-in, workspace roles from the role map) and hands the session's tokens to the GUI."""
    provider = context.oidc
    email = ""
    try:
        if provider is None:
            raise SignInError("not_configured", "FLOWUI_OIDC_ISSUER is not set")
        attempt = open_attempt(context.keys.signing_key, request.cookies.get(ATTEMPT_COOKIE), state)
        if error is not None:
            raise SignInError("provider_refused", f"{error}: {error_description or ''}")
        if iss is not None and iss.rstrip("/") != provider.issuer:
            # RFC 9207: the answer of another provider (a mix-up attack).
            raise SignInError("invalid_token", f"the answer names the issuer {iss!r}")
        if not code:
            raise SignInError("provider_refused", "the provider gave no code")
        tokens = provider.exchange_code(code, attempt)
        claims = provider.validate_id_token(tokens["id_token"], attempt.nonce)
        claims = provider.user_claims(claims, tokens.get("access_token"))
        email = str(claims.get("email", ""))[:320]
        signed = sign_in_user(session, provider, claims)
    except SignInError as refused:
        session.rollback()
        detail = {"method": "oidc", "reason": refused.code, "email": email.lower()}
        audit.record(session, request, "auth.sign_in_failed", detail=detail)
        session.commit()
        return _refused(refused)
    user = signed.user
    signed_in = start_session(session, user, request)
    if signed.created:
        audit.record(session, request, "auth.register", user=user, target=user.email)
    audit.record(
        session,
        request,
        "auth.sign_in",
        user=user,
        target=user.email,
        detail={"method": "oidc", "groups": signed.groups[:50], "roles": signed.roles},
    )
    session.commit()
    issued = issue_tokens(context.keys, user, signed_in)
    fragment = urlencode(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "token_type": issued.token_type,
            "expires_in": issued.expires_in,
        }
    )
    response = RedirectResponse(f"{SIGNED_IN_PAGE}#{fragment}", status_code=303, headers=_PRIVATE)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_COOKIE_PATH)
    return response
