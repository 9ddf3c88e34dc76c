"""The catalog dashboard's pages (/dashboard, /dashboard/products/<sku>): shells served with a
strict CSP, no inline script, and nothing in the HTML that belongs to a tenant or the server.

What the pages do in a browser (login, list, filters, report, re-process) is tested against the
real server in tests/e2e/test_dashboard_browser.py.
"""

from __future__ import annotations

from html.parser import HTMLParser
import pytest

from viewer.dashboard import DASHBOARD_SCRIPT, dashboard_headers
from viewer.pages import STATIC_DIR, STATIC_URL

PAGES = ["/dashboard", "/dashboard/products/SOFA-1"]


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside <script> elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text += data

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_served_with_a_strict_csp(api, path):
    response = api.client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = directives(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]  # no inline script, no eval
    assert csp["frame-ancestors"] == ["'none'"]  # a page with a key and publish buttons is never framed
    assert csp["form-action"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    # Posters, models and reports come from where published files are served (here: this service).
    assert "http://testserver" in csp["img-src"] and "http://testserver" in csp["connect-src"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_storage_on_another_origin_is_allowed_for_images_and_fetches_only():
    csp = directives(dashboard_headers(["https://cdn.example.test/catalog/objects/ab.glb"])["Content-Security-Policy"])
    assert "https://cdn.example.test" in csp["img-src"]
    assert "https://cdn.example.test" in csp["connect-src"]
    assert "https://cdn.example.test" not in csp["script-src"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_and_load_only_our_files(api, path):
    html = api.client.get(path).text
    page = Tags(html)
    scripts = page.find("script")
    assert scripts, "the page loads its script"
    assert page.script_text.strip() == ""
    for attrs in scripts:
        assert attrs.get("src", "").startswith(STATIC_URL + "/"), attrs
        assert (STATIC_DIR / attrs["src"][len(STATIC_URL) + 1 :]).is_file(), attrs["src"]
    assert any(attrs["src"] == DASHBOARD_SCRIPT for attrs in scripts)
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any((value or "").strip().lower().startswith("javascript:") for value in attrs.values())
    for attrs in page.find("link"):
        href = attrs["href"] or ""
        assert href.startswith((STATIC_URL + "/", "data:")), href


@pytest.mark.parametrize("path", PAGES)
def test_nothing_secret_or_tenant_specific_is_in_the_html(api, app_settings, path):
    api.create_product("SOFA-1", name="Confidential prototype sofa")
    anonymous = api.client.get(path).text
    with_key = api.get(path).text
    assert anonymous == with_key  # a shell: the same for everyone, whoever asks
    assert api.key not in anonymous
    assert "Confidential prototype sofa" not in anonymous
    assert str(app_settings.data_dir) not in anonymous
    assert "sqlite" not in anonymous.lower()


def test_the_login_form_never_puts_the_key_in_a_url_or_a_password_manager(api):
    page = Tags(api.client.get("/dashboard").text)
    (form,) = [attrs for attrs in page.find("form") if "login-form" in (attrs.get("class") or "")]
    assert form.get("method") == "post" and "action" not in form  # never a GET with ?api-key=
    (key_input,) = [attrs for attrs in page.find("input") if attrs.get("id") == "api-key"]
    assert key_input["type"] == "password"
    assert key_input["autocomplete"] == "off"
    assert "value" not in key_input
    assert any(attrs.get("for") == "api-key" for attrs in page.find("label"))


def test_the_script_keeps_the_key_in_the_tab_session_only():
    script = (STATIC_DIR / "dashboard.js").read_text()
    assert "sessionStorage" in script
    for persistent in ("localStorage", "document.cookie", "indexedDB"):
        assert persistent not in script, persistent


def test_product_page_carries_its_sku_as_escaped_data(api):
    page = Tags(api.client.get("/dashboard/products/SOFA-1.v2_b").text)
    (main,) = page.find("main")
    assert main["data-page"] == "product"
    assert main["data-sku"] == "SOFA-1.v2_b"


@pytest.mark.parametrize("sku", ["%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", ".hidden", "a" * 65])
def test_a_sku_that_cannot_exist_is_a_404_in_the_error_envelope(api, sku):
    response = api.client.get(f"/dashboard/products/{sku}")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "Product not found."}}


@pytest.mark.parametrize(("name", "content_type"), [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")])
def test_the_static_files_are_served_with_their_types(api, name, content_type):
    response = api.client.get(f"{STATIC_URL}/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
