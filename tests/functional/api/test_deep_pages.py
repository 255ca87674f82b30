"""Deep offsets (read through an id-only page first) give the same pages as keyset paging."""

from sqlalchemy import insert

from core.models import Task
from tests.factories import ProjectFactory


def test_deep_offset_matches_last_id_paging_in_both_orders(app, db):
    project = ProjectFactory()
    db.execute(
        insert(Task),
        [
            {"project_id": project.id, "info": {"n": n}, "priority_0": (n % 7) / 7, "n_answers": 1}
            for n in range(1300)
        ],
    )
    db.commit()
    ids = [row.id for row in db.query(Task.id).order_by(Task.id)]

    deep = app.get(f"/api/task?project_id={project.id}&limit=50&offset=1200").json
    keyset = app.get(f"/api/task?project_id={project.id}&limit=50&last_id={ids[1199]}").json
    by_priority = app.get(
        f"/api/task?project_id={project.id}&limit=10&offset=1100&orderby=priority_0&desc=1"
    ).json

    expected = sorted(range(1300), key=lambda n: (-(n % 7) / 7, -n))[1100:1110]
    assert [t["id"] for t in deep] == ids[1200:1250]
    assert [t["id"] for t in keyset] == ids[1200:1250]
    assert [t["info"]["n"] for t in by_priority] == expected
