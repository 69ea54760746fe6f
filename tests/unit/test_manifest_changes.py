"""check names what changed since a parse, from the inputs that parse recorded."""

from __future__ import annotations

from dbtscaffold.runtime.manifest_state import changes


def test_files_variables_and_secrets_are_named_as_a_person_would():
    then = {
        "project": "/p",
        "dbt": "dbt_core-1.11",
        "file:models/a.sql": "aa",
        "file:models/gone.sql": "bb",
        "env:DBT_TARGET": "None",
        "env:DB_PASSWORD": "0123456789abcdef0123",
    }
    now = {
        "project": "/p",
        "dbt": "dbt_core-1.11",
        "file:models/a.sql": "a2",
        "file:models/new.sql": "cc",
        "env:DBT_TARGET": "'dev'",
        "env:DB_PASSWORD": "fedcba98765432100123",
    }
    assert changes(then, now) == [
        "DBT_TARGET changed: unset -> 'dev'",
        "DB_PASSWORD changed",  # a secret's value is never shown
        "models/a.sql changed",
        "models/gone.sql removed",
        "models/new.sql added",
    ]
    assert changes(now, now) == []
