"""factory_boy factories, one per model, committed through the test session."""

import factory
from factory.alchemy import SQLAlchemyModelFactory

from core.models import (
    Announcement,
    Blogpost,
    Category,
    HelpingMaterial,
    Page,
    Project,
    ProjectStats,
    Result,
    Task,
    TaskRun,
    User,
)
from core.passwords import hash_password

_registry = []
# Hashed once: argon2 is slow on purpose, and every test makes users.
PASSWORD = "secret-password"
PASSWORD_HASH = hash_password(PASSWORD)


def bind(session):
    for factory_class in _registry:
        factory_class._meta.sqlalchemy_session = session


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "commit"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.append(cls)


class UserFactory(Base):
    class Meta:
        model = User

    name = factory.Sequence(lambda n: f"user{n}")
    fullname = factory.Sequence(lambda n: f"User Number {n}")
    email_addr = factory.LazyAttribute(lambda u: f"{u.name}@example.com")
    passwd_hash = factory.LazyFunction(lambda: PASSWORD_HASH)
    admin = False
    privacy_mode = False


class CategoryFactory(Base):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    short_name = factory.Sequence(lambda n: f"category{n}")
    description = "A category"


class ProjectFactory(Base):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    short_name = factory.Sequence(lambda n: f"project{n}")
    description = "A project"
    owner = factory.SubFactory(UserFactory)
    owner_id = factory.LazyAttribute(lambda p: p.owner.id)
    category = factory.SubFactory(CategoryFactory)
    category_id = factory.LazyAttribute(lambda p: p.category.id)
    published = True
    info = factory.LazyFunction(lambda: {"task_presenter": "<div>presenter</div>"})

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.pop("owner", None)
        kwargs.pop("category", None)
        session = cls._meta.sqlalchemy_session
        project = model_class(*args, **kwargs)
        session.add(project)
        session.flush()
        project.set_owners([])
        session.add(ProjectStats(project_id=project.id))
        session.commit()
        return project

    @factory.post_generation
    def coowners(project, create, extracted, **kwargs):
        # A post-generation hook: factory_boy never hands `Params` to _create.
        if extracted:
            project.set_owners([user.id for user in extracted])
            ProjectFactory._meta.sqlalchemy_session.commit()


class TaskFactory(Base):
    class Meta:
        model = Task

    project = factory.SubFactory(ProjectFactory)
    project_id = factory.LazyAttribute(lambda t: t.project.id)
    info = factory.Sequence(lambda n: {"question": f"Question {n}?", "n": n})
    n_answers = 2

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.pop("project", None)
        return super()._create(model_class, *args, **kwargs)


class TaskRunFactory(Base):
    class Meta:
        model = TaskRun

    task = factory.SubFactory(TaskFactory)
    task_id = factory.LazyAttribute(lambda r: r.task.id)
    project_id = factory.LazyAttribute(lambda r: r.task.project_id)
    user = factory.SubFactory(UserFactory)
    user_id = factory.LazyAttribute(lambda r: r.user.id if r.user else None)
    info = {"answer": "yes"}

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.pop("task", None)
        kwargs.pop("user", None)
        run = super()._create(model_class, *args, **kwargs)
        task = cls._meta.sqlalchemy_session.get(Task, run.task_id)
        task.n_task_runs += 1
        if task.n_task_runs >= task.n_answers:
            task.state = "completed"
        cls._meta.sqlalchemy_session.commit()
        return run


class ResultFactory(Base):
    class Meta:
        model = Result

    task = factory.SubFactory(TaskFactory)
    task_id = factory.LazyAttribute(lambda r: r.task.id)
    project_id = factory.LazyAttribute(lambda r: r.task.project_id)
    task_run_ids = factory.LazyFunction(list)
    last_version = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.pop("task", None)
        return super()._create(model_class, *args, **kwargs)


class _ProjectChild(Base):
    class Meta:
        abstract = True

    project = factory.SubFactory(ProjectFactory)
    project_id = factory.LazyAttribute(lambda o: o.project.id)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.pop("project", None)
        return super()._create(model_class, *args, **kwargs)


class BlogpostFactory(_ProjectChild):
    class Meta:
        model = Blogpost

    title = factory.Sequence(lambda n: f"Post {n}")
    body = "Some news"
    published = True
    user_id = factory.LazyAttribute(lambda b: b.project.owner_id)


class HelpingMaterialFactory(_ProjectChild):
    class Meta:
        model = HelpingMaterial

    info = {"help": "look closely"}


class PageFactory(_ProjectChild):
    class Meta:
        model = Page

    slug = factory.Sequence(lambda n: f"page-{n}")


class AnnouncementFactory(Base):
    class Meta:
        model = Announcement

    title = factory.Sequence(lambda n: f"Announcement {n}")
    body = "Hello"
    published = True
