"""Domain logic over a SQLAlchemy Session: no HTTP here, and nothing here commits."""
