"""Database-specific search structures on core_searchentry (see rapport.core.search)."""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE search_words USING fts5(title, body, content='core_searchentry', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE VIRTUAL TABLE search_idents USING fts5(identifiers, content='core_searchentry', "
    "content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER search_entry_ai AFTER INSERT ON core_searchentry BEGIN
        INSERT INTO search_words(rowid, title, body) VALUES (new.id, new.title, new.body);
        INSERT INTO search_idents(rowid, identifiers) VALUES (new.id, new.identifiers);
    END""",
    """CREATE TRIGGER search_entry_ad AFTER DELETE ON core_searchentry BEGIN
        INSERT INTO search_words(search_words, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO search_idents(search_idents, rowid, identifiers) VALUES ('delete', old.id, old.identifiers);
    END""",
    """CREATE TRIGGER search_entry_au AFTER UPDATE ON core_searchentry BEGIN
        INSERT INTO search_words(search_words, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO search_idents(search_idents, rowid, identifiers) VALUES ('delete', old.id, old.identifiers);
        INSERT INTO search_words(rowid, title, body) VALUES (new.id, new.title, new.body);
        INSERT INTO search_idents(rowid, identifiers) VALUES (new.id, new.identifiers);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_entry_au",
    "DROP TRIGGER IF EXISTS search_entry_ad",
    "DROP TRIGGER IF EXISTS search_entry_ai",
    "DROP TABLE IF EXISTS search_idents",
    "DROP TABLE IF EXISTS search_words",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # 'simple' (no stemming: names are not words of a language) with accents folded: José = jose.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'rapport_search') THEN
            CREATE TEXT SEARCH CONFIGURATION rapport_search (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION rapport_search
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
        END IF;
    END $$""",
    "ALTER TABLE core_searchentry ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('rapport_search'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('rapport_search'::regconfig, coalesce(body, '')), 'B')) STORED",
    "CREATE INDEX search_entry_tsv_idx ON core_searchentry USING gin (tsv)",
    "CREATE INDEX search_entry_ident_trgm_idx ON core_searchentry USING gin (identifiers gin_trgm_ops)",
    "CREATE INDEX search_entry_title_trgm_idx ON core_searchentry USING gin (title gin_trgm_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS search_entry_title_trgm_idx",
    "DROP INDEX IF EXISTS search_entry_ident_trgm_idx",
    "DROP INDEX IF EXISTS search_entry_tsv_idx",
    "ALTER TABLE core_searchentry DROP COLUMN IF EXISTS tsv",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS rapport_search",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
