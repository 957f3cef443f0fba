"""Who signed in through ACE, and what acehub makes of an ACE user: the identity policy.

`authenticate` is the ACE half of the sign-in (`user_services.sign_in_with_ace`): it signs in
and resolves the user. `is_ace_admin` and `may_sign_in` read a `getusers` row the same way
for the sign-in and for the account sync (who is an administrator, whose mirrored user is
deactivated). ACE's localised error text is never parsed, and ACE publishes no error
numbers, so none of them decides anything (docs/ace-api.md, "Sign-in").
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from app.ace.dto import AceLogin, AceUser
from app.ace.errors import AceError, AceRequestRefusedError
from app.ace.port import AceApi
from app.errors import ErrorCode

logger = logging.getLogger(__name__)

ACCESS_LEVEL_ADMIN = 2  # `ACCESS_LEVEL` 2 = administrator
ACCESS_STATUS_ALLOWED = 1  # `ACCESS_STATUS` 1 = may sign in


class AceIdentity(BaseModel):
    """Who signed in: the session GUID and the resolved ACE user."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    guid: str = Field(repr=False)
    user_id: int
    username: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    active: bool = True
    is_admin: bool = False


def is_ace_admin(user: AceUser) -> bool:
    """An ACE administrator: `ACCESS_LEVEL` 2."""
    return user.access_level == ACCESS_LEVEL_ADMIN


def may_sign_in(user: AceUser) -> bool:
    """Active and not denied; a field ACE did not send does not count against the user."""
    if user.active is False:
        return False
    return user.access_status is None or user.access_status == ACCESS_STATUS_ALLOWED


async def authenticate(ace: AceApi, account_id: str, username: str, password: str) -> AceIdentity:
    """Sign in and resolve who signed in.

    The user id comes from the login row when ACE sends one, else from `getlogininfo`;
    the user's details come from `getusers` (by id, else by `filterusername`). A refused
    login is told apart with `getpublicsettings` (unknown account) and the inactive-user
    signals; ACE's localised error text is never parsed. A sign-in that fails after the
    login ends that ACE session (no GUID is left behind).
    """
    if not account_id.strip():
        raise AceError(
            "This ACE account does not exist", code=ErrorCode.INVALID_ACCOUNT_ID, fct="login"
        )
    if not username or not password:
        raise AceError(
            "ACE refused the username or password",
            code=ErrorCode.INVALID_CREDENTIALS,
            fct="login",
        )
    try:
        login = await ace.login(account_id, username, password)
    except AceError as error:
        if error.code is ErrorCode.INVALID_CREDENTIALS:
            await _raise_if_unknown_account(ace, account_id)
        raise
    try:
        return await _identity(ace, account_id, username, login)
    except AceError:
        await ace.logout(login.guid)
        raise


async def _raise_if_unknown_account(ace: AceApi, account_id: str) -> None:
    try:
        await ace.get_public_settings(account_id)
    except AceError as error:
        if error.code is ErrorCode.INVALID_ACCOUNT_ID:
            raise
        # The login itself was refused; an unreachable pre-check must not turn a
        # wrong password into an outage, so the caller keeps INVALID_CREDENTIALS.
        logger.warning("ACE account check failed after a refused login")


async def _identity(ace: AceApi, account_id: str, username: str, login: AceLogin) -> AceIdentity:
    """The signed-in user: the `getusers` row when ACE lets the user list users, else
    the login row (some accounts refuse user lists to normal users)."""
    info = login if login.user_id is not None else await ace.get_login_info(login.guid)
    try:
        user = await _find_user(ace, login.guid, username, info.user_id)
    except AceRequestRefusedError:
        user = None
    if user is not None:
        if not may_sign_in(user):
            raise AceError(
                "This ACE user is inactive or denied access",
                code=ErrorCode.ACCOUNT_INACTIVE,
                fct="getusers",
            )
        return AceIdentity(
            account_id=account_id,
            guid=login.guid,
            user_id=user.user_id,
            username=user.username,
            first_name=user.first_name or info.first_name,
            last_name=user.last_name or info.last_name,
            email=user.email or info.email,
            active=True,
            is_admin=is_ace_admin(user),
        )
    if info.user_id is None:
        raise AceError(
            "ACE did not say which user signed in",
            code=ErrorCode.ACE_BAD_RESPONSE,
            fct="getlogininfo",
        )
    return AceIdentity(
        account_id=account_id,
        guid=login.guid,
        user_id=info.user_id,
        username=info.username or username,
        first_name=info.first_name,
        last_name=info.last_name,
        email=info.email,
        active=True,
        is_admin=info.access_level == ACCESS_LEVEL_ADMIN,
    )


async def _find_user(
    ace: AceApi, guid: str, login_name: str, user_id: int | None
) -> AceUser | None:
    """The `getusers` row of who signed in: by id when known, else by the name typed at
    sign-in, which ACE also accepts as an e-mail address."""
    if user_id is not None:
        users = await ace.get_users(guid, user_id=user_id)
        return next((u for u in users if u.user_id == user_id), None)
    wanted = login_name.casefold()

    def matches(user: AceUser) -> bool:
        return user.username.casefold() == wanted or (user.email or "").casefold() == wanted

    named = await ace.get_users(guid, username=login_name)
    found = next((u for u in named if matches(u)), None)
    if found is None and "@" in login_name:
        # `filterusername` filters on the username; an e-mail needs the whole list.
        found = next((u for u in await ace.get_users(guid) if matches(u)), None)
    return found
