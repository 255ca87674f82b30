"""Pages in the visitor's language: catalogs, the locale negotiator, marked templates."""

import configparser
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.settings import DEFAULTS
from tests.functional.web.conftest import make_user, sign_in

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "core" / "templates"
DOMAIN = DEFAULTS["jinja2.i18n.domain"][0]

GERMAN = {
    "Skip to content": "Zum Inhalt springen",
    "Projects": "Projekte",
    "Sign in": "Anmelden",
    "Sign out": "Abmelden",
    "Password": "Passwort",
    "Forgot your password?": "Passwort vergessen?",
    "Your account": "Ihr Konto",
    "%(rank)s of %(total)s": "%(rank)s von %(total)s",
}


@pytest.fixture(scope="module")
def german_dir(tmp_path_factory):
    """A folder of catalogs holding a small German one, built with Babel."""
    folder = tmp_path_factory.mktemp("locale")
    catalog = Catalog(locale="de", domain=DOMAIN)
    for msgid, msgstr in GERMAN.items():
        catalog.add(msgid, msgstr)
    messages = folder / "de" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    with open(messages / f"{DOMAIN}.mo", "wb") as mo_file:
        write_mo(mo_file, catalog)
    return str(folder)


@pytest.fixture
def german_app(make_app, german_dir):
    return make_app(i18n__extra_dirs=german_dir)


def test_signed_in_user_sees_pages_in_their_locale(german_app, db):
    user = make_user(locale="de")
    sign_in(german_app, user)

    page = german_app.get("/account/profile", headers={"Accept-Language": "fr"})

    assert '<html lang="de">' in page.text
    assert "Ihr Konto" in page.text
    assert "Abmelden" in page.text
    assert ">Projekte</a>" in page.text
    # A message with variables: the translation is filled in.
    assert re.search(r"(\d+|—) von \d+</dd>", page.text)


def test_anonymous_visitor_gets_the_accept_language_match(german_app, db):
    page = german_app.get("/account/signin", headers={"Accept-Language": "de-AT, en;q=0.5"})

    assert '<html lang="de">' in page.text
    assert "Zum Inhalt springen" in page.text
    assert '<label for="password">Passwort</label>' in page.text
    assert "Passwort vergessen?" in page.text
    # Messages the catalog lacks stay in English.
    assert "Create an account" in page.text


@pytest.mark.parametrize("accept_language", ["ja", "", "*;q=0.1, xx"])
def test_unoffered_languages_fall_back_to_english(german_app, db, accept_language):
    page = german_app.get("/account/signin", headers={"Accept-Language": accept_language})

    assert '<html lang="en">' in page.text
    assert "Forgot your password?" in page.text


def test_user_locale_outside_the_offered_ones_is_ignored(make_app, german_dir, db):
    app = make_app(i18n__extra_dirs=german_dir, account__locales="en fr")
    sign_in(app, make_user(locale="de"))

    page = app.get("/account/profile", headers={"Accept-Language": "de"})

    assert '<html lang="en">' in page.text
    assert "Your account" in page.text


@pytest.mark.parametrize("ini", ["development.ini", "production.ini"])
def test_ini_files_use_the_catalogs_domain(ini):
    parser = configparser.RawConfigParser()
    parser.read(ROOT / ini)

    assert parser.get("app:main", "jinja2.i18n.domain") == DOMAIN


def _extracted_ids() -> set:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map):
        catalog.add(message, context=context)
    return {message.id for message in catalog if message.id}


def test_pot_file_is_up_to_date():
    with open(ROOT / "core" / "locale" / f"{DOMAIN}.pot", "rb") as pot:
        committed = {message.id for message in read_po(pot) if message.id}

    extracted = _extracted_ids()

    assert extracted - committed == set(), "new messages: run the pybabel extract of babel.cfg"
    assert committed - extracted == set(), "stale messages: run the pybabel extract of babel.cfg"


# Words that are the same in every language: names, protocols, formats.
UNTRANSLATED = {"API", "HTTP", "PYBOSSA", "Crowdnest", "CSV", "JSON", "MB", "KEY", "UTC"}
# Text elements holding code or owner-written content, not Crowdnest's words.
SKIPPED_ELEMENTS = {"script", "style", "code", "pre"}
TRANSLATED_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder"}
# Owner code handed out as is.
UNCHECKED_FOLDERS = {"presenters"}


class _VisibleText(HTMLParser):
    """Collects the text and the translated attributes of HTML, outside code elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipping = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_ELEMENTS:
            self.skipping += 1
        self.texts.extend(value for name, value in attrs if name in TRANSLATED_ATTRIBUTES)

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.texts.append(data)


def _unmarked_words(source: str) -> list[str]:
    """English words of a template left outside `_()` and `{% trans %}`."""
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    source = re.sub(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", "", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", source, flags=re.S)
    parser = _VisibleText()
    parser.feed(source)
    # Attributes written by macros outside a tag (aria-invalid="true") and paths are not words.
    text = re.sub(r'[\w-]+="[^"]*"|\S*/\S*', "", " ".join(parser.texts))
    words = re.findall(r"[A-Za-z]{2,}", text)
    return [word for word in words if word not in UNTRANSLATED]


def _checked_templates():
    for path in sorted(TEMPLATES.rglob("*.html")):
        relative = path.relative_to(TEMPLATES)
        if relative.parts[0] not in UNCHECKED_FOLDERS:
            yield str(relative)


@pytest.mark.parametrize("template", list(_checked_templates()))
def test_template_text_is_marked_for_translation(template):
    words = _unmarked_words((TEMPLATES / template).read_text())

    assert words == [], f"{template}: wrap this text in _() or {{% trans %}}"
