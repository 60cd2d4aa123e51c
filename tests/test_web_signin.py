"""Web UI sign-in: the real `bitrag web` (Streamlit, st.login, Authlib) against a fake OpenID Connect provider on
127.0.0.1, driven in headless Chromium; and the rules around it: no web UI beyond loopback without sign-in, the
knowledge base follows the signed-in person, accounts of other organisations are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.access import Kind, Person
from bot.adapters.web.signin import check_exposure, signed_in_conversation
from rag.errors import ConfigError, NotAllowedError
from tests.browser import WebBrowser
from tests.conftest import ROOT
from tests.fakes import on_own_loop
from tests.fakes.oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.system import free_port

COOKIE_SECRET = "x" * 40
SEED = """
import asyncio, pathlib
from bot.settings import get_settings
from bot.wiring import open_service
from rag.models import SourceFile
from tests.test_web_signin import DOCUMENTS

async def main():
    service = await open_service(get_settings())
    for tenant, (name, text) in DOCUMENTS.items():
        path = pathlib.Path(tenant.replace(":", "_")) / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        report = await service.ingest([SourceFile.local(path)], tenant)
        assert not report.failed, report.failed
    await service.close()

asyncio.run(main())
"""  # the documents of every audience, ingested before the web UI opens the database
DOCUMENTS = {  # tenant → (file name, text)
    "T1": ("wifi.md", "# Guest wifi\n\nThe guest wifi password in the Lisbon office is ORCHID-4471.\n"),
    "T1:dm:U1": ("my-notes.md", "# Notes\n\nMy parking spot is P-17 on level -2.\n"),
    "T1:dm:U2": ("salary-letter.txt", "Dear Dana,\n\nYour annual salary is 187,400 euros.\n"),
    "T2": ("globex.md", "# Globex\n\nThe Globex launch code is 7-alpha-9.\n"),
    "acme-kb": ("handbook.md", "# Handbook\n\nThe Acme offsite is in Porto in May.\n"),
}


def test_no_web_ui_beyond_loopback_without_sign_in(make_settings) -> None:
    check_exposure(make_settings())  # the default: 127.0.0.1, no sign-in
    check_exposure(make_settings(web_address="::1"))
    for address in ("0.0.0.0", "::", "192.0.2.10", "bitrag.example.com"):
        with pytest.raises(ConfigError, match="WEB_AUTH") as refused:
            check_exposure(make_settings(web_address=address))
        assert "WEB_AUTH_CLIENT_ID" in str(refused.value)
    with pytest.raises(ConfigError, match="WEB_AUTH_CLIENT_SECRET, WEB_AUTH_COOKIE_SECRET"):
        check_exposure(make_settings(web_address="0.0.0.0", web_auth="slack", web_auth_client_id="c",
                                     web_auth_redirect_url="https://b.example/oauth2callback"))
    complete = dict(web_auth="oidc", web_auth_client_id="c", web_auth_client_secret="s",
                    web_auth_cookie_secret=COOKIE_SECRET, web_auth_redirect_url="https://b.example/oauth2callback",
                    web_auth_metadata_url="https://idp.example/.well-known/openid-configuration")
    check_exposure(make_settings(web_address="0.0.0.0", **complete))
    with pytest.raises(ConfigError, match="too short"):
        check_exposure(make_settings(**{**complete, "web_auth_cookie_secret": "short"}))
    with pytest.raises(ConfigError, match="/oauth2callback"):
        check_exposure(make_settings(**{**complete, "web_auth_redirect_url": "https://b.example/"}))


def test_bitrag_web_refuses_to_listen_on_all_interfaces_without_sign_in(tmp_path: Path) -> None:
    env = {**os.environ, "WEB_ADDRESS": "0.0.0.0", "MILVUS_URI": str(tmp_path / "m.db"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "web"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "WEB_ADDRESS=0.0.0.0 would open the web UI to the network without sign-in" in result.stderr
    assert not (tmp_path / "m.db").exists()  # refused before anything started


def test_who_reads_what_after_sign_in(make_settings) -> None:
    slack = make_settings(web_auth="slack", web_admins="U9")
    accounts = {"U1": Person("slack", "T1", "U1", member_of=("G1",)), "U9": Person("slack", "T1", "U9"),
                "U2": Person("slack", "T1", "U2", guest=True, member_of=("C7",)),
                "U8": Person("slack", "T1", "U8", guest=True)}

    def sign_in(user: str, lookup=lambda team, user: accounts[user]):
        return signed_in_conversation(slack, {"sub": "x", "https://slack.com/team_id": "T1",
                                              "https://slack.com/user_id": user}, lookup)

    member = sign_in("U1")
    assert member.tenant == "T1:dm:U1" and member.read_scope == ("T1:dm:U1", "T1:G1", "T1") and not member.admin
    assert member.platform == "slack" and member.kind == Kind.DM  # the same documents as their DM uploads
    assert sign_in("U9").admin
    guest = sign_in("U2")  # a guest: their own and the conversations they are in, never the workspace's
    assert guest.read_scope == ("T1:dm:U2", "T1:C7") and not guest.admin
    assert not signed_in_conversation(make_settings(web_auth="slack", web_admins="U8"), {
        "https://slack.com/team_id": "T1", "https://slack.com/user_id": "U8"}, lambda t, u: accounts[u]).admin
    unknown = sign_in("U1", lookup=None)  # nobody asked Slack (no bot token): their own documents only
    assert unknown.read_scope == ("T1:dm:U1",)
    with pytest.raises(NotAllowedError):
        signed_in_conversation(slack, {"sub": "x", "email": "a@b.example"})
    company = make_settings(web_auth="oidc", web_tenant="acme-kb", web_allowed_email_domains="acme.example")
    alice = signed_in_conversation(company, {"sub": "1", "email": "Alice@acme.example", "email_verified": True})
    assert alice.read_scope == ("acme-kb",) and alice.user == "alice@acme.example"
    for claims in ({"sub": "2", "email": "mallory@evil.example", "email_verified": True},
                   {"sub": "3", "email": "eve@acme.example", "email_verified": False}, {"sub": "4"}):
        with pytest.raises(NotAllowedError, match="allowed organisation"):
            signed_in_conversation(company, claims)


@pytest.fixture
def oidc() -> Iterator[FakeOIDC]:
    with on_own_loop(FakeOIDC()) as provider:
        yield provider


def signin_browser(tmp_path: Path, oidc: FakeOIDC, **settings: str) -> WebBrowser:
    """`bitrag web` with sign-in through the fake identity provider, every audience's documents seeded."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    return WebBrowser(tmp_path, port, {"WEB_AUTH_METADATA_URL": oidc.metadata_url, "WEB_AUTH_CLIENT_ID": CLIENT_ID,
                                       "WEB_AUTH_CLIENT_SECRET": CLIENT_SECRET, "WEB_AUTH_COOKIE_SECRET": COOKIE_SECRET,
                                       "WEB_AUTH_REDIRECT_URL": f"{base}/oauth2callback", **settings},
                      [sys.executable, "-c", SEED])


@pytest.fixture
def slack_in_thread() -> Iterator[FakeSlack]:
    """The fake Slack on a loop of its own: `bitrag web` (another process) asks it who signed in."""
    with on_own_loop(FakeSlack()) as fake:
        yield fake


def test_sign_in_with_slack_reads_what_slack_says_one_may(tmp_path: Path, oidc: FakeOIDC,
                                                         slack_in_thread: FakeSlack) -> None:
    slack_in_thread.users["U2"] = {"is_restricted": True}  # a multi-channel guest
    browser = signin_browser(tmp_path, oidc, WEB_AUTH="slack", SLACK_BOT_TOKEN=BOT_TOKEN,
                             SLACK_API_URL=f"{slack_in_thread.url}/api/")
    try:
        browser.open()
        signed_out = browser.wait_for_text("Sign in with Slack")
        assert not any(name in signed_out for name, _ in DOCUMENTS.values())  # nothing readable signed out
        assert "stChatInput" not in browser.driver.page_source
        oidc.next_user = {"sub": "slack-U1", "email": "dana@t1.example", "email_verified": True,
                          "https://slack.com/team_id": "T1", "https://slack.com/user_id": "U1"}
        browser.click("Sign in with Slack")
        browser.wait_for_text("Signed in as U1")
        assert oidc.authorized and oidc.authorized[-1]["code_challenge_method"] == "S256"
        assert "Knowledge base" not in browser.text()  # no free text field for a member
        control = browser.ask("What is the guest wifi password in the Lisbon office?")
        assert "ORCHID-4471" in control and "wifi.md" in control
        own = browser.ask("Where is my parking spot?")
        assert "P-17" in own
        for question, secret in (("What is Dana's annual salary?", "187,400"),
                                 ("What is the Globex launch code?", "7-alpha-9"),
                                 ("Where is the Acme offsite?", "Porto")):
            assert secret not in browser.ask(question), question
        browser.click("Documents")
        listed = browser.wait_for_text("my-notes.md")
        assert "wifi.md" in listed
        assert not any(name in listed for name in ("salary-letter.txt", "globex.md", "handbook.md"))
        browser.driver.save_screenshot(str(tmp_path / "signed-in.png"))

        # A guest signs in: Slack says so, and they read only their own documents — not the workspace's.
        browser.click("Sign out")
        browser.wait_for_text("Sign in with Slack")
        oidc.next_user = {"sub": "slack-U2", "email": "dana@t1.example", "email_verified": True,
                          "https://slack.com/team_id": "T1", "https://slack.com/user_id": "U2"}
        browser.click("Sign in with Slack")
        browser.wait_for_text("Signed in as U2")
        browser.click("Ask")
        assert "187,400" in browser.ask("What is Dana's annual salary?")  # the control: their own is read
        assert "ORCHID-4471" not in browser.ask("What is the guest wifi password in the Lisbon office?")
        browser.click("Documents")
        listed = browser.wait_for_text("salary-letter.txt")
        assert not any(name in listed for name in ("wifi.md", "my-notes.md", "globex.md", "handbook.md"))
        assert any(m == "users.info" or m == "users.list" for m in slack_in_thread.methods())
    finally:
        browser.close()


def test_a_company_idp_refuses_other_organisations(tmp_path: Path, oidc: FakeOIDC) -> None:
    browser = signin_browser(tmp_path, oidc, WEB_AUTH="oidc", WEB_TENANT="acme-kb",
                             WEB_ALLOWED_EMAIL_DOMAINS="acme.example")
    try:
        browser.open()
        browser.wait_for_text("Sign in to ask questions")
        oidc.next_user = {"sub": "m1", "email": "mallory@evil.example", "email_verified": True}
        browser.click("Sign in")
        refused = browser.wait_for_text("not from an allowed organisation")
        assert not any(name in refused for name, _ in DOCUMENTS.values())
        assert "stChatInput" not in browser.driver.page_source
        browser.click("Sign out")
        browser.wait_for_text("Sign in to ask questions")
        oidc.next_user = {"sub": "a1", "email": "alice@acme.example", "email_verified": True}
        browser.click("Sign in")
        browser.wait_for_text("Signed in as alice@acme.example")
        assert "Porto" in browser.ask("Where is the Acme offsite?")  # the control: an allowed account reads it
        assert "ORCHID-4471" not in browser.ask("What is the guest wifi password in the Lisbon office?")
    finally:
        browser.close()
