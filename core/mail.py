"""Outgoing mail with pyramid_mailer: the mailer is a registry utility chosen by `mail.mailer`.

- `smtp`: pyramid_mailer's Mailer over the `mail.*` settings (host, port, username, ...);
- `debug`: every message written as an .eml file under `mail.debug_dir` (development);
- `dummy`: messages kept in the mailer's `outbox` list (tests).

Messages leave only after the request's transaction commits (`request.after_commit`), so a
failed request never mails anyone; a failure to send is logged, never raised.
"""

import logging
import os

from pyramid.renderers import render
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.mailer import DebugMailer, DummyMailer, Mailer
from pyramid_mailer.message import Attachment, Message

from core.jobs import application_registry

log = logging.getLogger(__name__)

MAILERS = ("smtp", "debug", "dummy")


def build_mailer(settings: dict):
    """The mailer the `mail.mailer` setting names."""
    kind = settings["mail.mailer"]
    if kind == "dummy":
        return DummyMailer()
    if kind == "debug":
        # Made here, race-free: DebugMailer's own exists-then-makedirs fails when two processes
        # (test workers, gunicorn workers) build the first mailer of a fresh folder at once.
        os.makedirs(settings["mail.debug_dir"], exist_ok=True)
        return DebugMailer(settings["mail.debug_dir"])
    if kind == "smtp":
        return Mailer.from_settings(settings, prefix="mail.")
    raise ValueError(f"mail.mailer must be one of {', '.join(MAILERS)}, not {kind!r}")


def get_mailer(request):
    return request.registry.getUtility(IMailer)


def send_mail(request, recipient: str, subject: str, template: str, values: dict) -> None:
    """Send `template` (HTML, with a plain-text twin `values["text"]`) once the request commits."""
    settings = request.registry.settings
    html = render(template, {**values, "brand": settings["brand"]}, request=request)
    message = Message(
        subject=f"{settings['brand']}: {subject}",
        sender=settings["mail.default_sender"],
        recipients=[recipient],
        body=values["text"],
        html=html,
    )
    request.after_commit(get_mailer(request).send_immediately, message)


def mail_link(request, route_name: str, **kw) -> str:
    """The absolute address of a route for a mail: on `site.url` when it is set, never on a
    Host header a client chose (a reset link on the attacker's host hands them the account)."""
    site = request.registry.settings["site.url"].rstrip("/")
    if not site:
        return request.route_url(route_name, **kw)
    return site + request.route_path(route_name, **kw)


def includeme(config):
    settings = config.get_settings()
    mailer = build_mailer(settings)
    config.registry.registerUtility(mailer, IMailer)


def mail_new_owners(request, project, users) -> None:
    """Tell each user just made a co-owner of `project`, once the request commits (decision 23)."""
    by = request.user.name if request.user is not None else request.registry.settings["brand"]
    url = mail_link(request, "project_info", short_name=project.short_name)
    for user in users:
        text = (
            f"Hello {user.fullname},\n\n{by} made you a co-owner of the project {project.name}:"
            f" you can now change its settings, tasks and answers.\n\n{url}\n\nIf you did not"
            " expect it, ask the project's owner or the administrators to remove you.\n"
        )
        values = {"user": user, "by": by, "project": project, "url": url, "text": text}
        send_mail(
            request,
            user.email_addr,
            "You are now a co-owner",
            "projects/mail_coowner.html",
            values,
        )


def mail_new_primary_owner(request, project, user) -> None:
    """Tell the user a project was handed to them, once the request commits (decision 23)."""
    by = request.user.name if request.user is not None else request.registry.settings["brand"]
    url = mail_link(request, "project_info", short_name=project.short_name)
    text = (
        f"Hello {user.fullname},\n\n{by} made you the owner of the project {project.name}.\n\n"
        f"{url}\n\nIf you did not expect it, ask the administrators.\n"
    )
    values = {"user": user, "by": by, "project": project, "url": url, "text": text}
    send_mail(
        request, user.email_addr, "You are now a project owner", "projects/mail_owner.html", values
    )


def mailer_for(settings: dict):
    """The mailer of the application running this job (its registry's: the same dummy outbox in
    tests, never another application's), else a new one (an RQ worker, from its own .ini)."""
    registry = application_registry(settings)
    if registry is not None:
        return registry.getUtility(IMailer)
    return build_mailer(settings)


def send_now(settings: dict, recipient: str, subject: str, text: str, attachment=None) -> None:
    """Send a plain-text mail at once (from a job, after its commit); `attachment` is a
    (filename, content type, bytes) triple. A failure to send is logged, never raised."""
    message = Message(
        subject=f"{settings['brand']}: {subject}",
        sender=settings["mail.default_sender"],
        recipients=[recipient],
        body=text,
    )
    if attachment is not None:
        filename, content_type, data = attachment
        message.attach(Attachment(filename, content_type, data))
    try:
        mailer_for(settings).send_immediately(message)
    except Exception:
        log.exception("mail to %s could not be sent", recipient)
