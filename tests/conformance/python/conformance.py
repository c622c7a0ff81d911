"""Drives the official Python SDK (passage-identity 2.6.0, unchanged) against passage-emulator.

Starts the emulator binary on a free loopback port, runs every case, stops it, prints one line
per case (`ok - name` / `FAIL - name: reason`) and `N passed, M failed, 0 skipped` last; exits 1
on any failure. Nothing is skipped: every method a case calls is in the pinned SDK, so a missing
one is an AttributeError, a failure (the count is printed so run.sh reads both suites alike).

Environment: PASSAGE_EMULATOR_BIN (default: <repo>/target/debug/passage-emulator).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import passageidentity.requests as sdk_requests
from passageidentity import MagicLinkOptions, Passage, PassageError
from passageidentity.models.magic_link_args import (
    MagicLinkWithEmailArgs,
    MagicLinkWithPhoneArgs,
    MagicLinkWithUserArgs,
)
from passageidentity.openapi_client.configuration import Configuration
from passageidentity.openapi_client.models import (
    AppInfo,
    CreateUserRequest,
    MagicLink,
    MagicLinkChannel,
    MagicLinkType,
    UpdateUserRequest,
    UserEventAction,
    UserEventStatus,
    UserInfo,
    UserRecentEvent,
    UserStatus,
    WebAuthnDevices,
    WebAuthnType,
)

# The deprecated Passage.* methods are exercised on purpose.
warnings.simplefilter("ignore", DeprecationWarning)

REPO = Path(__file__).resolve().parents[3]
BIN = os.environ.get("PASSAGE_EMULATOR_BIN", str(REPO / "target" / "debug" / "passage-emulator"))
# Set: the suite runs against `passage-server serve --dev` instead (its Management API listener
# also serves the JWKS and the development routes, so every case runs unchanged).
SERVER_BIN = os.environ.get("PASSAGE_SERVER_BIN")
APP_ID = "conformance_py_app"
API_KEY = "conformance_py_key"
AUTH_ORIGIN = "http://localhost:3000"  # the emulator's default auth origin
# The hosts the SDK hard-codes.
PASSAGE_API = "https://api.passage.id/v1"
PASSAGE_JWKS = f"https://auth.passage.id/v1/apps/{APP_ID}/.well-known/jwks.json"


class CaseFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CaseFailure(message)


def eq(actual, expected, what: str) -> None:
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


# --- the emulator process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatorProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="passage-emulator-py-", suffix=".log", delete=False)
        # No --users: the emulator seeds `demo-user` (demo@example.com) with one passkey; the
        # server is given the same user.
        command = [BIN, "--bind", f"127.0.0.1:{self.port}", "--app-id", APP_ID, "--api-key", API_KEY]
        self.users = None
        if SERVER_BIN:
            self.users = tempfile.NamedTemporaryFile("w", prefix="passage-users-", suffix=".json", delete=False)
            json.dump([{"id": "demo-user", "email": "demo@example.com", "devices": ["Demo passkey"]}], self.users)
            self.users.close()
            command = [SERVER_BIN, "serve", "--dev", "--api-bind", f"127.0.0.1:{self.port}",
                       "--auth-bind", "127.0.0.1:0", "--app-id", APP_ID, "--api-key", API_KEY,
                       "--users", self.users.name]
        self.proc = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}: {self.log_text()}")
            try:
                self.dev("GET", "/stats")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"emulator did not answer on {self.base}: {self.log_text()}")
                time.sleep(0.05)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the binary shuts down on ctrl-c
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)
        if self.users:
            os.unlink(self.users.name)

    def dev(self, method: str, path: str, body: dict | None = None) -> dict:
        """Calls one of the emulator's own `/__emulator` routes (seeding, minting)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}/__emulator{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def seed(self, **user) -> dict:
        return self.dev("POST", "/users", user)["user"]

    def sign_in(self, user_id: str) -> None:
        """Signs the user in through the emulator's browser route (a login: count, event)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", f"/__emulator/sign-in?user_id={urllib.parse.quote(user_id)}&redirect=/")
            response = conn.getresponse()
            response.read()
            if response.status != 303:
                raise RuntimeError(f"sign-in answered {response.status}")
        finally:
            conn.close()

    def token(self, user_id: str, expires_in: int | None = None) -> str:
        body = {"user_id": user_id}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self.dev("POST", "/token", body)["token"]


# --- pointing the unchanged SDK at the emulator ----------------------------------------------


def redirect_sdk(base: str) -> None:
    """Points the SDK's two hard-coded API call sites at the emulator.

    1. The generated OpenAPI client (UsersApi, MagicLinksApi, ...) takes its host from the default
       Configuration: the generator's own hook, no patching.
    2. passageidentity.helper.fetch_app (run by Passage() to read `hosted`/`auth_origin` for the
       audience check) calls passageidentity.requests.get("https://api.passage.id/v1/apps/<id>"):
       that one module function is wrapped to swap the host.
    The JWKS URL is handled per instance in `client()`.
    """
    Configuration.set_default(Configuration(host=f"{base}/v1"))
    original_get = sdk_requests.get

    def get(url: str, api_key: str | None = None):
        return original_get(url.replace(PASSAGE_API, f"{base}/v1", 1), api_key)

    sdk_requests.get = get


def client(emu: EmulatorProcess, api_key: str = API_KEY, auth_strategy: int = Passage.COOKIE_AUTH) -> Passage:
    passage = Passage(APP_ID, api_key, auth_strategy)
    # 3. Auth.__init__ builds PyJWKClient("https://auth.passage.id/v1/apps/<id>/.well-known/jwks.json"):
    #    the one attribute holding that URL is re-pointed at the emulator's JWKS (same path).
    assert passage.auth.jwks.uri == PASSAGE_JWKS, passage.auth.jwks.uri
    passage.auth.jwks.uri = f"{emu.base}/v1/apps/{APP_ID}/.well-known/jwks.json"
    return passage


# --- helpers ---------------------------------------------------------------------------------


def unique_email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:8]}@Example.COM"


_phone_counter = iter(range(1000, 9999))


def unique_phone() -> str:
    # A valid US number (libphonenumber's rules: an assigned area code, an exchange of 2-9xx).
    return f"+1415{200 + os.getpid() % 800:03d}{next(_phone_counter):04d}"


def expect_passage_error(fn, status: int | None, code: str | None) -> PassageError:
    try:
        result = fn()
    except PassageError as e:
        if status is not None:
            eq(e.status_code, status, "PassageError.status_code")
        if code is not None:
            eq(e.error_code, code, "PassageError.error_code")
        return e
    raise CaseFailure(f"expected PassageError({status}, {code}), got a result: {result!r}")


def assert_user(user, *, user_id=None, email=None, phone=None, status=UserStatus.ACTIVE, metadata=...):
    check(isinstance(user, UserInfo), f"expected UserInfo, got {type(user).__name__}")
    check(isinstance(user.id, str) and user.id, f"id: {user.id!r}")
    if user_id is not None:
        eq(user.id, user_id, "user.id")
    if email is not None:
        eq(user.email, email, "user.email")
    if phone is not None:
        eq(user.phone, phone, "user.phone")
    eq(user.status, status, "user.status")
    check(isinstance(user.status, UserStatus), f"status is not a UserStatus: {user.status!r}")
    for field in ("created_at", "updated_at", "last_login_at"):
        value = getattr(user, field)
        check(isinstance(value, datetime) and value.tzinfo is not None, f"{field}: {value!r}")
    check(isinstance(user.login_count, int), f"login_count: {user.login_count!r}")
    check(isinstance(user.email_verified, bool) and isinstance(user.phone_verified, bool), "verified flags")
    check(isinstance(user.external_id, str), "external_id")
    check(isinstance(user.recent_events, list), "recent_events")
    check(all(isinstance(t, WebAuthnType) for t in user.webauthn_types), f"webauthn_types: {user.webauthn_types!r}")
    eq(user.webauthn, bool(user.webauthn_devices), "user.webauthn (has devices)")
    if metadata is not ...:
        eq(user.user_metadata, metadata, "user.user_metadata")


def assert_device(device, name: str) -> None:
    check(isinstance(device, WebAuthnDevices), f"expected WebAuthnDevices, got {type(device).__name__}")
    eq(device.friendly_name, name, "device.friendly_name")
    eq(device.type, WebAuthnType.PASSKEY, "device.type")
    check(isinstance(device.id, str) and device.id, "device.id")
    check(isinstance(device.cred_id, str) and device.cred_id, "device.cred_id")
    check(isinstance(device.usage_count, int), "device.usage_count")
    for field in ("created_at", "updated_at", "last_login_at"):
        check(isinstance(getattr(device, field), datetime), f"device.{field}")
    check(device.icons is not None and device.icons.light is None and device.icons.dark is None, f"icons: {device.icons!r}")


def assert_magic_link(link, *, identifier, user_id, ttl, kind, redirect_url, path) -> None:
    check(isinstance(link, MagicLink), f"expected MagicLink, got {type(link).__name__}")
    eq(link.app_id, APP_ID, "magic_link.app_id")
    eq(link.identifier, identifier, "magic_link.identifier")
    eq(link.user_id, user_id, "magic_link.user_id")
    eq(link.ttl, ttl, "magic_link.ttl")
    eq(link.type, kind, "magic_link.type")
    eq(link.redirect_url, redirect_url, "magic_link.redirect_url")
    eq(link.activated, False, "magic_link.activated")
    check(isinstance(link.id, str) and link.id, "magic_link.id")
    check(isinstance(link.secret, str) and link.secret, "magic_link.secret")
    check(link.url.startswith(f"{AUTH_ORIGIN}{path}?"), f"magic_link.url {link.url!r} is not under {AUTH_ORIGIN}{path}")


def options(language=None, magic_link_path=None, redirect_url=None, ttl=None) -> MagicLinkOptions:
    # MagicLinkOptions only declares its attributes: Auth.create_magic_link reads all four.
    o = MagicLinkOptions()
    o.language, o.magic_link_path, o.redirect_url, o.ttl = language, magic_link_path, redirect_url, ttl
    return o


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


# --- the cases -------------------------------------------------------------------------------


def cases(emu: EmulatorProcess, passage: Passage):
    def get_app():
        # Passage.getApp (deprecated, the SDK's only app-info call) -> AppsApi.get_app -> AppInfo.
        app = passage.getApp()
        check(isinstance(app, AppInfo), f"expected AppInfo, got {type(app).__name__}")
        eq(app.id, APP_ID, "app.id")
        eq(app.auth_origin, AUTH_ORIGIN, "app.auth_origin")
        eq(app.hosted, False, "app.hosted")
        eq(app.type, "complete", "app.type")
        check(app.rsa_public_key.startswith("-----BEGIN PUBLIC KEY-----"), "app.rsa_public_key")
        check(app.auth_methods.magic_link.ttl >= 60, "auth_methods.magic_link.ttl")

    def app_info_for_audience():
        # Passage() itself read GET /apps/<id> raw (helper.fetch_app): what validate_jwt uses.
        eq(passage.auth.app["id"], APP_ID, "fetch_app()['id']")
        eq(passage.auth.app["hosted"], False, "fetch_app()['hosted']")
        eq(passage.auth.app["auth_origin"], AUTH_ORIGIN, "fetch_app()['auth_origin']")

    def create_user_email_metadata():
        email = unique_email("Ada.Lovelace")
        user = passage.user.create(CreateUserRequest(email=email, user_metadata={"plan": "pro", "seats": 3}))
        assert_user(user, email=email.lower(), phone="", metadata={"plan": "pro", "seats": 3})
        eq(user.webauthn_devices, [], "webauthn_devices")
        eq(user.login_count, 0, "login_count")
        eq(passage.user.get(user.id).email, email.lower(), "email read back")

    def create_user_phone():
        phone = unique_phone()
        user = passage.user.create(CreateUserRequest(phone=phone))
        assert_user(user, email="", phone=phone)

    def create_user_dict_deprecated():
        email = unique_email("Dict")
        user = passage.createUser({"email": email})
        assert_user(user, email=email.lower())

    def create_user_without_identifier_refused_client_side():
        try:
            passage.user.create(CreateUserRequest(user_metadata={"a": 1}))
        except ValueError as e:
            # The SDK's own check, before any request (not any ValueError at all).
            eq(str(e), "At least one of args.email or args.phone is required.", "the SDK's own refusal")
            return
        raise CaseFailure("create without email/phone did not raise ValueError")

    def get_user():
        seeded = emu.seed(email=unique_email("Get"), user_metadata={"k": "v"})
        user = passage.user.get(seeded["id"])
        assert_user(user, user_id=seeded["id"], email=seeded["email"], metadata={"k": "v"})
        user = passage.getUser(seeded["id"])  # deprecated alias
        eq(user.id, seeded["id"], "getUser().id")

    def get_demo_user_with_device():
        user = passage.user.get("demo-user")
        assert_user(user, user_id="demo-user", email="demo@example.com")
        eq(len(user.webauthn_devices), 1, "len(webauthn_devices)")
        assert_device(user.webauthn_devices[0], "Demo passkey")
        eq(user.webauthn_types, [WebAuthnType.PASSKEY], "webauthn_types")

    def get_user_after_sign_in():
        seeded = emu.seed(email=unique_email("SignedIn"))
        emu.sign_in(seeded["id"])
        user = passage.user.get(seeded["id"])
        assert_user(user, user_id=seeded["id"])
        eq(user.login_count, 1, "login_count")
        check(user.last_login_at.year >= 2020, f"last_login_at: {user.last_login_at!r}")
        eq(len(user.recent_events), 1, "len(recent_events)")
        event = user.recent_events[0]
        check(isinstance(event, UserRecentEvent), f"expected UserRecentEvent, got {type(event).__name__}")
        eq(event.status, UserEventStatus.COMPLETE, "event.status")
        eq(event.action, UserEventAction.LOGIN, "event.action")
        eq(event.social_login_type, None, "event.social_login_type")
        check(isinstance(event.created_at, datetime) and isinstance(event.completed_at, datetime), "event times")
        check(all(isinstance(getattr(event, f), str) for f in ("id", "type", "ip_addr", "user_agent", "user_agent_display")),
              "event string fields")

    def get_by_identifier_mixed_case_email():
        email = unique_email("Grace.Hopper")
        seeded = emu.seed(email=email)
        user = passage.user.get_by_identifier(email.upper())
        assert_user(user, user_id=seeded["id"], email=email.lower())
        eq(passage.getUserByIdentifier(email).id, seeded["id"], "getUserByIdentifier().id")

    def get_by_identifier_phone():
        phone = unique_phone()
        seeded = emu.seed(phone=phone)
        user = passage.user.get_by_identifier(phone)
        assert_user(user, user_id=seeded["id"], phone=phone, email="")

    def get_by_identifier_unknown():
        # An empty list, which the SDK itself turns into this error (no status: not an API error).
        e = expect_passage_error(lambda: passage.user.get_by_identifier("nobody@example.com"), None, None)
        eq((e.message, e.status_code), ("User not found.", None), "(message, status_code)")

    def update_user():
        seeded = emu.seed(email=unique_email("Before"), user_metadata={"plan": "free"})
        email = unique_email("After.Update")
        user = passage.user.update(seeded["id"], UpdateUserRequest(email=email, user_metadata={"plan": "team"}))
        assert_user(user, user_id=seeded["id"], email=email.lower(), metadata={"plan": "team"})
        phone = unique_phone()
        user = passage.updateUser(seeded["id"], UpdateUserRequest(phone=phone))  # deprecated alias
        assert_user(user, user_id=seeded["id"], email=email.lower(), phone=phone, metadata={"plan": "team"})

    def deactivate_and_activate():
        seeded = emu.seed(email=unique_email("Status"))
        user = passage.user.deactivate(seeded["id"])
        assert_user(user, user_id=seeded["id"], status=UserStatus.INACTIVE)
        eq(passage.user.get(seeded["id"]).status, UserStatus.INACTIVE, "status read back")
        user = passage.user.activate(seeded["id"])
        assert_user(user, user_id=seeded["id"], status=UserStatus.ACTIVE)
        eq(passage.deactivateUser(seeded["id"]).status, UserStatus.INACTIVE, "deactivateUser().status")
        eq(passage.activateUser(seeded["id"]).status, UserStatus.ACTIVE, "activateUser().status")

    def list_devices():
        devices = passage.user.list_devices("demo-user")
        check(isinstance(devices, list), f"devices: {devices!r}")
        eq(len(devices), 1, "len(devices)")
        assert_device(devices[0], "Demo passkey")
        eq([d.id for d in passage.listUserDevices("demo-user")], [devices[0].id], "listUserDevices() ids")

    def list_devices_empty():
        seeded = emu.seed(email=unique_email("NoDevice"))
        eq(passage.user.list_devices(seeded["id"]), [], "devices")

    def revoke_device():
        seeded = emu.seed(email=unique_email("Devices"), devices=["Laptop", "Phone"])
        devices = passage.user.list_devices(seeded["id"])
        eq(sorted(d.friendly_name for d in devices), ["Laptop", "Phone"], "friendly names")
        laptop = next(d for d in devices if d.friendly_name == "Laptop")
        phone = next(d for d in devices if d.friendly_name == "Phone")
        eq(passage.user.revoke_device(seeded["id"], laptop.id), None, "revoke_device()")
        eq([d.id for d in passage.user.list_devices(seeded["id"])], [phone.id], "devices after revoke")
        eq(passage.revokeUserDevice(seeded["id"], phone.id), True, "revokeUserDevice()")
        eq(passage.user.list_devices(seeded["id"]), [], "devices after second revoke")
        user = passage.user.get(seeded["id"])
        eq(user.webauthn, False, "user.webauthn after revoking all")
        eq(user.webauthn_types, [], "user.webauthn_types after revoking all")

    def revoke_unknown_device():
        seeded = emu.seed(email=unique_email("NoSuchDevice"))
        expect_passage_error(lambda: passage.user.revoke_device(seeded["id"], "no-such-device"), 404, "device_not_found")

    def revoke_refresh_tokens():
        seeded = emu.seed(email=unique_email("Tokens"))
        eq(passage.user.revoke_refresh_tokens(seeded["id"]), None, "revoke_refresh_tokens()")
        eq(passage.revokeUserRefreshTokens(seeded["id"]), True, "revokeUserRefreshTokens()")
        eq(passage.signOut(seeded["id"]), True, "signOut()")

    def delete_user():
        seeded = emu.seed(email=unique_email("Delete"))
        eq(passage.user.delete(seeded["id"]), None, "delete()")
        expect_passage_error(lambda: passage.user.get(seeded["id"]), 404, "user_not_found")
        seeded = emu.seed(email=unique_email("DeleteDeprecated"))
        eq(passage.deleteUser(seeded["id"]), True, "deleteUser()")
        expect_passage_error(lambda: passage.user.delete(seeded["id"]), 404, "user_not_found")

    def magic_link_by_email():
        email = unique_email("Magic")
        seeded = emu.seed(email=email)
        args = MagicLinkWithEmailArgs()
        args.email, args.type, args.send = email, MagicLinkType.LOGIN, False
        link = passage.auth.create_magic_link(
            args, options(language="de", magic_link_path="/welcome", redirect_url="/dashboard", ttl=60))
        assert_magic_link(link, identifier=email.lower(), user_id=seeded["id"], ttl=60,
                          kind=MagicLinkType.LOGIN, redirect_url="/dashboard", path="/welcome")

    def magic_link_by_phone():
        phone = unique_phone()
        seeded = emu.seed(phone=phone)
        args = MagicLinkWithPhoneArgs()
        args.phone, args.type, args.send = phone, MagicLinkType.VERIFY_IDENTIFIER, True
        link = passage.auth.create_magic_link(
            args, options(language="es", magic_link_path="/verify", redirect_url="/done", ttl=5))
        assert_magic_link(link, identifier=phone, user_id=seeded["id"], ttl=5,
                          kind=MagicLinkType.VERIFY_IDENTIFIER, redirect_url="/done", path="/verify")

    def magic_link_by_user_id():
        phone = unique_phone()
        seeded = emu.seed(email=unique_email("ById"), phone=phone)
        for channel, identifier in ((MagicLinkChannel.EMAIL, seeded["email"]), (MagicLinkChannel.PHONE, phone)):
            args = MagicLinkWithUserArgs()
            args.user_id, args.channel, args.type, args.send = seeded["id"], channel, MagicLinkType.LOGIN, False
            link = passage.auth.create_magic_link(
                args, options(language="pt", magic_link_path="/in", redirect_url="/home", ttl=30))
            assert_magic_link(link, identifier=identifier, user_id=seeded["id"], ttl=30,
                              kind=MagicLinkType.LOGIN, redirect_url="/home", path="/in")

    def magic_link_deprecated_dict():
        email = unique_email("Legacy")
        seeded = emu.seed(email=email)
        link = passage.createMagicLink({"email": email, "redirect_url": "/", "magic_link_path": "/", "ttl": 15})
        assert_magic_link(link, identifier=email.lower(), user_id=seeded["id"], ttl=15,
                          kind=MagicLinkType.LOGIN, redirect_url="/", path="/")

    def magic_link_bad_language_400():
        email = unique_email("BadLanguage")
        emu.seed(email=email)
        args = MagicLinkWithEmailArgs()
        args.email, args.type, args.send = email, MagicLinkType.LOGIN, False
        expect_passage_error(lambda: passage.auth.create_magic_link(args, options(language="fr")),
                             400, "invalid_request")

    def create_duplicate_400():
        email = unique_email("Twice")
        emu.seed(email=email)
        expect_passage_error(lambda: passage.user.create(CreateUserRequest(email=email)), 400, "invalid_request")

    def server_error_500():
        emu.dev("POST", "/faults", {"target": "api", "fault": "500", "times": 1})
        expect_passage_error(lambda: passage.user.get("demo-user"), 500, "internal_server_error")
        eq(passage.user.get("demo-user").id, "demo-user", "next call after the one-shot fault")

    def unknown_user_404():
        expect_passage_error(lambda: passage.user.get("no-such-user"), 404, "user_not_found")
        expect_passage_error(lambda: passage.user.activate("no-such-user"), 404, "user_not_found")
        expect_passage_error(lambda: passage.user.list_devices("no-such-user"), 404, "user_not_found")

    def wrong_api_key_401():
        wrong = client(emu, api_key="not-the-key")
        e = expect_passage_error(lambda: wrong.user.get("demo-user"), 401, "invalid_access_token")
        check("Could not fetch user" in e.message, f"message: {e.message!r}")
        expect_passage_error(lambda: wrong.user.get_by_identifier("demo@example.com"), 401, "invalid_access_token")

    def validate_jwt_minted():
        token = emu.token("demo-user")
        eq(passage.auth.validate_jwt(token), "demo-user", "validate_jwt() sub")
        eq(passage.validateJwt(token), "demo-user", "validateJwt() sub")
        eq(passage.authenticateJWT(token), "demo-user", "authenticateJWT() sub")
        request = SimpleNamespace(cookies={"psg_auth_token": token}, headers={})
        eq(passage.authenticateRequest(request), "demo-user", "authenticateRequest(cookie) sub")

    def validate_jwt_tampered():
        token = tamper(emu.token("demo-user"))
        e = expect_passage_error(lambda: passage.auth.validate_jwt(token), None, None)
        check("signature verification failed" in e.message.lower(), f"message: {e.message!r}")

    def validate_jwt_expired():
        token = emu.token("demo-user", expires_in=-120)
        e = expect_passage_error(lambda: passage.auth.validate_jwt(token), None, None)
        check("expired" in e.message.lower(), f"message: {e.message!r}")

    def validate_jwt_other_key():
        # A token the emulator signed before rotating to a new key and retiring the old one.
        token = emu.token("demo-user")
        emu.dev("POST", "/rotate-key", {"retire_old": True})
        fresh = client(emu)  # fresh JWKS cache
        # The set was fetched and read: the old kid is not in it (not a failed fetch).
        e = expect_passage_error(lambda: fresh.auth.validate_jwt(token), None, None)
        check("Unable to find a signing key that matches" in e.message, f"message: {e.message!r}")
        eq(fresh.auth.validate_jwt(emu.token("demo-user")), "demo-user", "token under the new key")

    return [
        ("get_app (Passage.getApp -> AppInfo)", get_app),
        ("Passage() reads app info for the audience check", app_info_for_audience),
        ("user.create (email + metadata)", create_user_email_metadata),
        ("user.create (phone)", create_user_phone),
        ("createUser (deprecated, dict)", create_user_dict_deprecated),
        ("user.create without identifier refused client-side", create_user_without_identifier_refused_client_side),
        ("user.get", get_user),
        ("user.get (demo-user with a device)", get_demo_user_with_device),
        ("user.get after a sign-in (login_count, recent_events)", get_user_after_sign_in),
        ("user.get_by_identifier (mixed-case email)", get_by_identifier_mixed_case_email),
        ("user.get_by_identifier (phone)", get_by_identifier_phone),
        ("user.get_by_identifier (unknown)", get_by_identifier_unknown),
        ("user.update", update_user),
        ("user.deactivate / user.activate", deactivate_and_activate),
        ("user.list_devices", list_devices),
        ("user.list_devices (none)", list_devices_empty),
        ("user.revoke_device", revoke_device),
        ("user.revoke_device (unknown device -> 404)", revoke_unknown_device),
        ("user.revoke_refresh_tokens", revoke_refresh_tokens),
        ("user.delete", delete_user),
        ("auth.create_magic_link (email)", magic_link_by_email),
        ("auth.create_magic_link (phone)", magic_link_by_phone),
        ("auth.create_magic_link (user id, email and phone channels)", magic_link_by_user_id),
        ("createMagicLink (deprecated, dict)", magic_link_deprecated_dict),
        ("auth.create_magic_link (unsupported language -> 400 invalid_request)", magic_link_bad_language_400),
        ("user.create (existing email -> 400 invalid_request)", create_duplicate_400),
        ("API failure -> 500 internal_server_error", server_error_500),
        ("unknown user -> 404 user_not_found", unknown_user_404),
        ("wrong API key -> 401 invalid_access_token", wrong_api_key_401),
        ("auth.validate_jwt (emulator-minted token)", validate_jwt_minted),
        ("auth.validate_jwt (tampered token refused)", validate_jwt_tampered),
        ("auth.validate_jwt (expired token refused)", validate_jwt_expired),
        ("auth.validate_jwt (retired key refused)", validate_jwt_other_key),
    ]


def describe(error: BaseException) -> str:
    if isinstance(error, CaseFailure):
        return str(error)
    text = f"{type(error).__name__}: {error}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "site-packages" in f.filename]
    if frames:
        where = frames[-1]
        text += f" (raised at {where.filename.split('site-packages/')[-1]}:{where.lineno})"
    return " ".join(text.split())


def main() -> int:
    if not os.access(BIN, os.X_OK):
        print(f"FAIL - setup: no emulator binary at {BIN} (cargo build -p passage-emulator)")
        print("0 passed, 1 failed, 0 skipped")
        return 1
    emu = EmulatorProcess()
    passed = failed = 0
    try:
        redirect_sdk(emu.base)
        try:
            passage = client(emu)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL - Passage({APP_ID!r}, ...) construction: {describe(e)}")
            print("0 passed, 1 failed, 0 skipped")
            return 1
        for name, case in cases(emu, passage):
            try:
                case()
            except Exception as e:  # noqa: BLE001
                failed += 1
                print(f"FAIL - {name}: {describe(e)}", flush=True)
            else:
                passed += 1
                print(f"ok - {name}", flush=True)
    finally:
        emu.stop()
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
