"""The whole plugin contract on one page.

A plugin is a module of functions marked with `core.hookspecs.hookimpl`, declared as an entry
point in one of the groups below and switched on by name in the .ini.
"""

import pluggy

PROJECT_NAME = "crowdnest"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# Entry-point group of each kind of plugin, and the setting that lists the enabled ones.
GROUPS = {
    "importers": "crowdnest.importers",
    "auth_providers": "crowdnest.auth_providers",
    "schedulers": "crowdnest.schedulers",
    "webhooks": "crowdnest.webhooks",
}


# --- Start-up --------------------------------------------------------------------------------


@hookspec
def crowdnest_includeme(config):
    """Called once at start-up with the Pyramid Configurator, after the database, cache,
    security and plugin manager are set up and before the API and web routes are added.

    A plugin adds its own routes, views or settings here. Returns nothing.
    """


@hookspec
def crowdnest_settings():
    """Called when the plugin is loaded, before anything reads the settings. Return a dict
    {key: (default, type)} of the settings this plugin reads, `type` one of str, int, float,
    bool or list (a list is written in the .ini as words or lines).

    Keys are namespaced by the plugin (`importer.flickr.api_key`, `webhooks.timeout`). Core
    takes each value from the CROWDNEST_* variable (`importer.flickr.api_key` is
    CROWDNEST_IMPORTER_FLICKR_API_KEY), else the .ini, else the default, and coerces it once:
    the plugin then reads `settings[key]` with its type. A key that core or another enabled
    plugin already declares stops the start-up.
    """


# --- Task delivery ----------------------------------------------------------------------------


@hookspec
def crowdnest_schedulers():
    """Return a dict {name: scheduler} of the task schedulers this plugin provides.

    A scheduler is a callable `(db, project, participant, options) -> list[Task]`; projects choose
    one by `info.sched`, the .ini names the default.
    """


@hookspec
def crowdnest_task_completed(project, task, result, payload, settings):
    """Called after the commit that completed `task` and created `result`; `settings` are the
    application's settings (plugin settings are namespaced `<kind>.<name>.<key>`).

    `payload` is PYBOSSA's webhook payload (event, project_short_name, project_id, task_id,
    result_id, fired_at). Returns nothing; errors are logged, not raised.
    """


# --- Importers and sign-in ---------------------------------------------------------------------


@hookspec
def crowdnest_importers():
    """Called once at start-up. Return a dict {name: importer} of the task importers this plugin
    provides; the import page offers them in the order plugins.importers lists the plugins.

    An importer has `name`, `title`, `description`, `fields` (a tuple of
    core.services.importer.ImportField: the form fields it needs, kind "url", "text" or "file")
    and `records(values, settings)`, a generator of one dict per task (values: field name ->
    submitted text, or the upload for a "file" field). It raises
    core.services.importer.ImporterError(message, field) on bad input. Record keys quorum,
    calibration, priority_0, n_answers and user_pref become task fields, the others go into
    `info`; records whose info a task of the project already has are skipped.
    """


@hookspec
def crowdnest_auth_providers():
    """Called once at start-up. Return a dict {name: provider} of the sign-in providers this
    plugin provides; core owns the routes /account/signin/<name>[/callback], the accounts and
    the kept tokens (/api/token), a provider only speaks its protocol.

    A provider has `name`, `title` and two methods, given the application's settings (its own
    are `auth_provider.<name>.<key>`) and the absolute callback URL:
    `authorize_url(settings, callback_url, state) -> (url, pending)`, the URL to send the browser
    to (carrying `state` back to the callback) and a JSON-able dict kept in the session until
    the callback; `fetch_identity(settings, callback_url, params, pending)`, given the callback's
    query parameters (`state` already checked), returns a core.services.oauth.Identity
    (provider_user_id, name, fullname, email, email_verified, token) or raises
    core.services.oauth.SignInError(message) for a refusal the visitor should read.
    """
