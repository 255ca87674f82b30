"""Crowdnest: a crowdsourcing and citizen-science server that speaks the PYBOSSA API."""

from setuptools import find_packages, setup

requires = [
    "pyramid>=2.0",
    "cornice>=6.0",
    "colander>=2.0",
    "SQLAlchemy>=2.0",
    "zope.sqlalchemy>=3.0",
    "pyramid_tm>=2.5",
    "pyramid_retry>=2.1",
    "pyramid_jinja2>=2.10",
    "pluggy>=1.3",
    "dogpile.cache>=1.2",
    "alembic>=1.12",
    "psycopg[binary]>=3.1",
    "redis[hiredis]>=5.0",  # hiredis: the C reply parser
    "argon2-cffi>=23.1",
    "PyJWT>=2.8",
    "orjson>=3.9",
    "waitress>=3.0",
    "gunicorn>=21.2",
    "PasteDeploy>=3.0",
    "plaster_pastedeploy>=1.0",
    "Pillow>=10.0",
    "pyramid_mailer>=0.15",
    "rq>=3.0",
    "Authlib>=1.3",
    # The OAuth sign-in plugins: Authlib's client runs on requests.
    "requests>=2.31",
    # Project descriptions and blog posts are Markdown (core/web/markdown.py).
    "markdown-it-py>=3.0",
    # JSON log lines when log.format = json (core/requestlog.py).
    "python-json-logger>=3.1",
    # Metrics at /metrics when metrics.enabled (core/metrics.py).
    "prometheus_client>=0.20",
]

tests_require = [
    "pytest>=7.4",
    "pytest-xdist>=3.3",
    "WebTest>=3.0",
    "factory_boy>=3.3",
    "pybossa-client==3.0.0",
    "selenium>=4.20",
    # The LDAP sign-in tests run ldap3's in-memory directory.
    "ldap3>=2.9",
    # The translation tests build catalogs and check core/locale/crowdnest.pot is current.
    "Babel>=2.12",
    # The fuzzer (tests/fuzz/run.py, `make fuzz`): pinned, since its generated requests and
    # checks change between releases; the validator checks /api/openapi.json in the suite.
    "schemathesis==4.32.5",
    "openapi-spec-validator>=0.7",
]

setup(
    name="crowdnest",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11",
    # The migrations (alembic/) are installed inside the package, as core/migrations: a plain
    # install migrates too (core.migrate finds them there, or in the checkout).
    packages=[
        *find_packages(exclude=["tests", "tests.*", "benchmarks"]),
        "core.migrations",
        "core.migrations.versions",
    ],
    package_dir={"core.migrations": "alembic"},
    include_package_data=True,
    zip_safe=False,
    install_requires=requires,
    extras_require={"test": tests_require, "ldap": ["ldap3>=2.9"]},
    entry_points={
        "paste.app_factory": ["main = core:main"],
        "paste.server_runner": ["waitress = core.server:serve"],
        "console_scripts": ["crowdnest = core.cli:main"],
        "crowdnest.importers": [
            "csv = plugins.importers.csv",
            "json = plugins.importers.json",
            "gdocs = plugins.importers.gdocs",
            "iiif = plugins.importers.iiif",
            "s3 = plugins.importers.s3",
            "dropbox = plugins.importers.dropbox",
            "flickr = plugins.importers.flickr",
            "epicollect = plugins.importers.epicollect",
            "youtube = plugins.importers.youtube",
            "twitter = plugins.importers.twitter",
        ],
        "crowdnest.auth_providers": [
            "facebook = plugins.auth_providers.facebook",
            "github = plugins.auth_providers.github",
            "google = plugins.auth_providers.google",
            "twitter = plugins.auth_providers.twitter",
        ],
        "crowdnest.schedulers": [
            "default = plugins.schedulers.depth_first",
            "breadth_first = plugins.schedulers.breadth_first",
            "incremental = plugins.schedulers.incremental",
            "locked = plugins.schedulers.locked",
            "user_pref = plugins.schedulers.user_pref",
        ],
        "crowdnest.webhooks": [
            "http = plugins.webhooks.http",
        ],
        # Pro features (core.services.pro): `pro_features` may reserve them to pro users.
        "crowdnest.pro": [
            "auditlog = plugins.pro.auditlog",
            "webhooks = plugins.pro.webhooks",
            "autoimporter = plugins.pro.autoimporter",
            "better_stats = plugins.pro.better_stats",
            "updated_exports = plugins.pro.updated_exports",
        ],
    },
)
