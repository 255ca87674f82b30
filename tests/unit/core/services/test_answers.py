"""Task delivery's rules (core.services.answers): each stated once, on Python values and on
SQL columns alike, and every statement of the lean path (core.delivery) built from them."""

import pytest
from sqlalchemy import Integer, String, create_engine, literal, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from core import delivery
from core.services import answers, project_token, task_run

GRID = [(runs, wanted) for runs in range(0, 4) for wanted in range(1, 4)]
STATES = ["ongoing", "completed"]


@pytest.fixture(scope="module")
def sql():
    """Evaluates an SQL expression (SQLite in memory)."""
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        yield lambda expression: connection.scalar(select(expression))
    engine.dispose()


@pytest.mark.parametrize(("n_runs", "n_answers"), GRID)
def test_counting_rules_say_the_same_on_values_and_on_columns(sql, n_runs, n_answers):
    runs, wanted = literal(n_runs), literal(n_answers)
    assert answers.reaches(n_runs, n_answers) is (n_runs >= n_answers)
    assert bool(sql(answers.reaches(runs, wanted))) is answers.reaches(n_runs, n_answers)
    for state in STATES:
        expected = n_runs >= n_answers and state != "completed"
        assert answers.completes(n_runs, n_answers, state) is expected
        assert bool(sql(answers.completes(runs, wanted, literal(state)))) is expected
        assert answers.versions(n_runs, n_answers, state) is (n_runs >= n_answers)
        assert bool(sql(answers.versions(runs, wanted, literal(state)))) is (n_runs >= n_answers)


def test_attribution_prefers_the_external_user_then_the_account_then_the_address():
    assert answers.author(7, "ip-x", "partner-1") == ("external_uid", "partner-1")
    assert answers.author(7, "ip-x") == ("user_id", 7)
    assert answers.author(None, "ip-x") == ("user_ip", "ip-x")
    assert answers.author(None, "ip-x", "") == ("user_ip", "ip-x")


class _Project:
    def __init__(self, allow_anonymous_contributors=True):
        self.id, self.short_name, self.secret_key = 1, "p", "s" * 32
        self.allow_anonymous_contributors = allow_anonymous_contributors


def test_admission_refuses_in_one_order_for_both_paths():
    closed = _Project(allow_anonymous_contributors=False)
    admit = answers.admission
    assert admit(_Project(), None, readable=True) is None
    assert admit(closed, 5, readable=True) is None
    assert admit(closed, None, readable=True, unknown_key=True) is answers.UNKNOWN_KEY
    assert admit(closed, None, readable=False) is answers.DRAFT
    assert admit(closed, None, readable=True) is answers.ANONYMOUS
    # A partner app's user is anonymous when asking, not when answering (PYBOSSA's rule).
    assert admit(closed, None, readable=True, external_uid="u1") is answers.ANONYMOUS
    refused = admit(closed, None, readable=True, external_uid="u1", answering=True)
    assert refused.reason == "token"
    assert refused.token_error.description == "Missing Authorization header"
    token = project_token.issue(closed, 60)
    bearer = f"Bearer {token}"
    assert admit(closed, None, readable=True, external_uid="u1", authorization=bearer) is (
        answers.ANONYMOUS
    )
    assert (
        admit(closed, None, readable=True, external_uid="u1", authorization=bearer, answering=True)
        is None
    )


def test_payloads():
    assert answers.newtask_payload([]) == {}
    assert answers.newtask_payload([{"id": 1}]) == {"id": 1}
    assert answers.newtask_payload([{"id": 1}, {"id": 2}]) == [{"id": 1}, {"id": 2}]
    assert answers.in_project(3, 3) and not answers.in_project(3, 4)


# -- the lean path's statements are built from the rules ---------------------------------------

MARK = "424242"


def _marked_reaches(n_runs, n_answers):
    """One answer more than the rule: the SQL form carries MARK."""
    extra = 1 if isinstance(n_answers, int) else literal_column(f"(1 + 0 * {MARK})")
    return n_runs >= n_answers + extra


def _text(statement, dialect) -> str:
    return str(statement.compile(dialect=dialect))


@pytest.mark.parametrize("kind", ["user_id", "user_ip"])
def test_every_lean_statement_deciding_completion_follows_reaches(monkeypatch, kind):
    monkeypatch.setattr(answers, "reaches", _marked_reaches)
    pg, lite = postgresql.dialect(), sqlite.dialect()
    (alone,) = delivery._Folded.of(kind, alone=True).statements()
    written, _volunteer, uncounted, superseded, result = delivery._Folded.of(kind).statements()
    built = {
        "context": _text(delivery._answer_context_query(True), lite),
        "short of completion": _text(alone, pg),
        "written": _text(written, pg),
        "result written": _text(result, pg),
        "result superseded": _text(superseded, pg),
        "result uncounted": _text(uncounted, pg),
    }
    for name, text in built.items():
        assert MARK in text, name
    # The written answer decides both the state and `completes` by it.
    assert built["written"].count(MARK) == 2


@pytest.mark.parametrize("kind", ["user_id", "user_ip"])
def test_the_lean_path_counts_new_volunteers_by_the_applications_expression(monkeypatch, kind):
    original = answers.earlier_answer_in_project

    def marked(column, *where):
        return original(column, *where) & (literal_column(MARK) == literal_column(MARK))

    monkeypatch.setattr(answers, "earlier_answer_in_project", marked)
    pg = postgresql.dialect()
    # Alone: the one statement is for a known volunteer (the expression says 0); else the
    # volunteer is counted by a statement of its own, after the answer's (stats.volunteer_counted).
    (alone,) = delivery._Folded.of(kind, alone=True).statements()
    assert MARK in _text(alone, pg)
    # ... and the answer's context says whether to try it by the same rule.
    assert MARK in _text(delivery._answer_context_query(kind == "user_id"), pg)
    written, volunteer, *_results = delivery._Folded.of(kind).statements()
    assert MARK not in _text(written, pg)
    assert MARK in _text(volunteer, pg)


def test_the_lean_result_versions_are_the_applications(monkeypatch):
    def marked(*args, **kwargs):
        return {**original(*args, **kwargs), "info": literal_column(f"'{MARK}'")}

    original = answers.result_version
    monkeypatch.setattr(answers, "result_version", marked)
    result = delivery._Folded.of("user_id").statements()[-1]
    assert MARK in _text(result, postgresql.dialect())
    assert MARK in _text(delivery._result_insert(), sqlite.dialect())


class _Recording:
    """An answer store that writes nothing: the steps it was asked for, in order."""

    def __init__(self, counted):
        self.counted, self.steps = counted, []

    def run_inserted(self, kind):
        self.steps.append(("run", kind))

    def counted_on_task(self):
        self.steps.append(("count",))

    def project_touched(self):
        self.steps.append(("touched",))

    def counted_on_project(self, completed, new_volunteer):
        self.steps.append(("figures", completed(*self.counted)))

    def task_completed(self, when):
        self.steps.append(("completed", when(*self.counted)))

    def result_versioned(self, when):
        self.steps.append(("versioned", when(*self.counted)))


@pytest.mark.parametrize(
    ("counted", "completes", "versions"),
    [
        ((1, 2, "ongoing"), False, False),
        ((2, 2, "ongoing"), True, True),
        ((3, 2, "completed"), False, True),
    ],
)
def test_the_one_sequence_locks_in_the_applications_order(counted, completes, versions):
    store = _Recording(counted)
    answers.record_answer(store, "user_ip")
    assert store.steps == [
        ("run", "user_ip"),
        ("count",),
        ("touched",),
        ("figures", completes),
        ("completed", completes),
        ("versioned", versions),
    ]


def test_every_answer_store_takes_every_step_of_the_protocol():
    steps = {name for name in vars(answers.AnswerStore) if not name.startswith("_")}
    assert len(steps) == 6
    for store in (task_run.SessionStore, delivery._Steps, delivery._Folded, _Recording):
        assert steps <= set(dir(store)), store


@pytest.mark.parametrize("user_id", [None, 0, 7])
@pytest.mark.parametrize("external_uid", [None, "", "partner-1"])
@pytest.mark.parametrize("user_ip", [None, "", "pseudonym"])
def test_the_participant_key_says_the_same_on_values_and_on_columns(
    sql, user_id, external_uid, user_ip
):
    """One definition (PARTICIPANT_KEYS) makes the key of the guard and the schedulers, and
    the SQL `locked` reads its answerers' keys with."""
    key = answers.participant_key(user_id, external_uid, user_ip)
    columns = (
        literal(user_id, Integer),
        literal(external_uid, String),
        literal(user_ip, String),
    )
    assert sql(answers.participant_key(*columns)) == key
    # A partner app's external user first (named only with the project's token), as a run is
    # attributed (`author`): the hand-out an answer takes is the one its run is stored under.
    if external_uid:
        assert key == f"external:{external_uid}"
    elif user_id is not None:
        assert key == f"user:{user_id}"
    else:
        assert key == f"ip:{user_ip}"
    column, _value = answers.author(user_id, user_ip, external_uid)
    assert key.startswith(dict(user_id="user:", external_uid="external:", user_ip="ip:")[column])
