"""The local stack's URL helper: another database on the same server, options kept."""

import psycopg

from txn_assets.stack import database_url_for


def test_another_database_keeps_credentials_and_options():
    url = database_url_for("postgresql://u:p%40ss@db.example:6543/postgres?sslmode=require", "txn")
    assert psycopg.conninfo.conninfo_to_dict(url) == {
        "user": "u",
        "password": "p@ss",
        "host": "db.example",
        "port": "6543",
        "dbname": "txn",
        "sslmode": "require",
    }


def test_sqlalchemy_scheme_for_dagster_storage():
    url = database_url_for(
        "postgresql://postgres@127.0.0.1:5432/postgres", "dagster", "postgresql+psycopg2"
    )
    assert url == "postgresql+psycopg2://postgres@127.0.0.1:5432/dagster"
