"""Which language a page is shown in: the user's choice, else the browser's, else English."""

from pyramid.i18n import Localizer
from pyramid.request import Request
from pyramid.threadlocal import get_current_request
from pyramid_jinja2.i18n import GetTextWrapper

DEFAULT_LOCALE = "en"


def negotiate_locale(request: Request) -> str:
    """The signed-in user's locale, else the best Accept-Language match, among account.locales."""
    offered = request.registry.settings["account.locales"]
    user = request.user
    if user is not None and user.locale in offered:
        return user.locale
    return request.accept_language.lookup(offered, default=DEFAULT_LOCALE)


class TemplateGetText(GetTextWrapper):
    """The templates' gettext (setting jinja2.i18n.gettext): English outside a request."""

    @property
    def localizer(self) -> Localizer:
        request = get_current_request()
        if request is None:
            # A template rendered by a script or a test without a running request.
            return Localizer(DEFAULT_LOCALE, None)
        return request.localizer


def includeme(config) -> None:
    settings = config.get_settings()
    # Crowdnest's catalogs first; extra folders (i18n.extra_dirs) may add or override messages.
    config.add_translation_dirs("core:locale/", *settings["i18n.extra_dirs"])
    config.set_locale_negotiator(negotiate_locale)
