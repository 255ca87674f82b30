"""The sign-in providers declare their settings (crowdnest_settings): credentials and endpoints."""

from core.plugins import get_plugin_manager
from core.settings import load_settings
from plugins.auth_providers.github import GitHubProvider


def test_a_provider_secret_may_come_from_the_environment_alone(monkeypatch):
    """Before, a credential absent from the .ini was never read from its CROWDNEST_* variable."""
    monkeypatch.setenv("CROWDNEST_AUTH_PROVIDER_GITHUB_CLIENT_SECRET", "from-the-environment")
    settings = load_settings({"plugins.auth_providers": "github"})
    get_plugin_manager(settings)

    assert GitHubProvider().credentials(settings) == ("", "from-the-environment")


def test_an_endpoint_left_empty_in_the_ini_keeps_its_default():
    settings = load_settings(
        {"plugins.auth_providers": "github", "auth_provider.github.token_url": ""}, environ={}
    )
    get_plugin_manager(settings)

    assert GitHubProvider().setting(settings, "token_url") == GitHubProvider.endpoints["token_url"]
    assert settings["auth_provider.github.userinfo_url"] == "https://api.github.com/user"
