"""The catalog's schema, one migration per version: a catalog opened by a newer photobrain is brought up to date."""
from __future__ import annotations

SCHEMA_VERSION = 6

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE images (
        hash TEXT PRIMARY KEY,
        width INTEGER, height INTEGER, format TEXT,
        added TEXT NOT NULL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT REFERENCES images(hash),
        status TEXT NOT NULL,          -- ok | failed | missing
        error TEXT,
        tagset TEXT,                   -- fingerprint of the model, vocabulary and settings last applied
        run INTEGER,
        updated TEXT NOT NULL
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        dim INTEGER NOT NULL
    );
    CREATE TABLE embeddings (
        hash TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        vector BLOB NOT NULL,
        PRIMARY KEY (hash, model_id)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        hash TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        path TEXT NOT NULL,            -- full path, "/"-joined, e.g. AI/animal/mammal/dog
        score REAL NOT NULL,
        implied INTEGER NOT NULL,
        source TEXT NOT NULL,
        vocab TEXT NOT NULL,
        PRIMARY KEY (hash, model_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        summary TEXT
    );
    """,
    # 2: search. Every image with an embedding gets a vector id (the FAISS id: 63 bits of a hash of the content
    # hash, probed on collision, so two images never share one), a sequence number telling the index what it has
    # not seen yet, and the text the keyword channel searches, per file.
    2: """
    CREATE TABLE vectors (
        vid INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE
    );
    -- a rowid table: 2 KB vectors in a WITHOUT ROWID b-tree took 2.3 times their size on disk
    CREATE TABLE embeddings_v2 (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        seq INTEGER NOT NULL DEFAULT 0,
        vector BLOB NOT NULL,
        UNIQUE (hash, model_id)
    );
    INSERT INTO embeddings_v2 (hash, model_id, vector) SELECT hash, model_id, vector FROM embeddings;
    DROP TABLE embeddings;
    ALTER TABLE embeddings_v2 RENAME TO embeddings;
    CREATE INDEX embeddings_seq ON embeddings(model_id, seq);
    CREATE VIRTUAL TABLE file_text USING fts5(
        name, folders, keywords, tags, caption,
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    """,
    # 3: the opt-in cloud brain. What a cloud model answered for an image (its raw keywords, caption and alt
    # text), so a re-run sends only images not answered yet and every later run writes the answer again.
    # status 'refused': the model withheld an answer for the image's content (a safety block); not sent again.
    3: """
    CREATE TABLE cloud_answers (
        hash TEXT NOT NULL,
        model TEXT NOT NULL,           -- e.g. gemini:gemini-2.5-flash-lite
        status TEXT NOT NULL,          -- answered | refused
        keywords TEXT NOT NULL,        -- JSON: a list of keyword paths, as the model returned them
        caption TEXT NOT NULL,
        alt_text TEXT NOT NULL,
        reason TEXT,
        answered TEXT NOT NULL,
        PRIMARY KEY (hash, model)
    ) WITHOUT ROWID;
    """,
    # 4: AI tags the user deleted in their photo manager, per image. photobrain:Rejected in the file says the
    # same, but an untag removes it: the user's decision outlives it here, until tag --forget-rejections.
    4: """
    CREATE TABLE rejections (
        hash TEXT NOT NULL,
        path TEXT NOT NULL,            -- the AI path, "/"-joined, e.g. AI/animal/mammal/dog
        PRIMARY KEY (hash, path)
    ) WITHOUT ROWID;
    """,
}

# 5: library roots. A folder the user tagged, with how it is tagged (its profile: model and weights, brain, where
# the tags live, keyword root, threshold, max tags, vocabulary), so every later command works from a path alone.
MIGRATIONS[5] = """
    CREATE TABLE libraries (
        id INTEGER PRIMARY KEY,
        root BLOB NOT NULL UNIQUE,     -- absolute path, as bytes (like files.path)
        profile TEXT NOT NULL,         -- JSON, see sidecar/settings.py
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        last_run TEXT,                 -- when a tag or retag last finished here
        last_summary TEXT              -- JSON: its counts
    );
"""

# 6: what the OS says of a file besides size and mtime (an editor can keep both and still change it: the ctime and,
# for a save by rename, the inode cannot be put back), and the hint that came with a failure, so a file that cannot
# be read is reported again, unchanged, without being read on every run.
MIGRATIONS[6] = """
    ALTER TABLE files ADD COLUMN ctime_ns INTEGER;   -- NULL: recorded before schema 6 (filled in when next seen)
    ALTER TABLE files ADD COLUMN inode INTEGER;
    ALTER TABLE files ADD COLUMN hint TEXT;
    -- what decides an image's pixels besides its image data (size, mode, a JPEG's coding tables), as a digest: a copy
    -- or a moved file whose header matches is known to decode as the file that was embedded, without decoding it
    ALTER TABLE images ADD COLUMN header TEXT;
"""
