"""The admin's new-agency form saves as rendered, with only a name, a slug and the brand voice typed
(issue 20: it demanded three "email delays" rows, rendered empty)."""

from __future__ import annotations

from html.parser import HTMLParser

from django.urls import reverse

from tenants.models import Tenant


class FormFields(HTMLParser):
    """What a browser would submit from the page's main form, as rendered (no JavaScript)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._option_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._select_value = a["name"], None
        elif tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            self.fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def test_a_new_agency_saves_with_the_forms_defaults(admin_client):
    url = reverse("admin:tenants_tenant_add")
    page = FormFields()
    page.feed(admin_client.get(url).content.decode())
    data: dict[str, list[str]] = {}
    for name, value in page.fields:
        data.setdefault(name, []).append(value.strip("\n"))
    data["name"], data["slug"] = ["Harbour & Hale"], ["harbour-hale"]
    data["brand_voice"] = ["Warm and local."]  # the one thing an agency must write itself
    data.pop("_continue", None), data.pop("_addanother", None)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    tenant = Tenant.objects.get(slug="harbour-hale")
    assert tenant.email_delays_days == [0, 3, 7]
