"""fulltextsearch=1 with info=key::query: same response shape on SQLite and PostgreSQL."""

from tests.factories import ProjectFactory, TaskFactory


def test_fulltext_finds_words_and_adds_headline_and_rank(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, info={"text": "lorem ipsum bravo charlie"})
    TaskFactory(project=project, info={"text": "nothing to see"})
    TaskFactory(project=project, info={"text": "ipsum only"})

    found = app.get("/api/task?info=text::ipsum%26bravo&fulltextsearch=1").json

    assert len(found) == 1
    assert "<b>" in found[0]["headline"] and "bravo" in found[0]["headline"]
    assert found[0]["rank"] > 0


def test_pipe_separates_info_pairs_not_or_terms(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, info={"text": "alpha"})
    TaskFactory(project=project, info={"text": "beta"})

    found = app.get("/api/task?info=text::alpha|beta&fulltextsearch=1").json

    # `|` also separates info pairs, so this is key text with query "alpha" only.
    assert [task["info"]["text"] for task in found] == ["alpha"]


def test_invalid_fulltext_query_is_415_not_500(app, db):
    TaskFactory(info={"text": "lorem"})

    response = app.get("/api/task?info=text::lorem%26%26&fulltextsearch=1", status=415)

    assert response.json["exception_cls"] == "DataError"


def test_without_fulltext_flag_info_is_exact_match(app, db):
    TaskFactory(info={"text": "lorem ipsum"})

    assert app.get("/api/task?info=text::lorem").json == []
    assert len(app.get("/api/task?info=text::lorem%20ipsum").json) == 1
