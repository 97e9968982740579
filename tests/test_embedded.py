"""The embedded servers: who starts them, and that data outlives a restart."""
import subprocess
import sys
import textwrap

import pytest

from routerhub import embedded


@pytest.mark.slow
def test_embedded_redis_starts_when_no_redis_answers_and_is_reused(tmp_path):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from routerhub import embedded
        url = embedded.redis_url(Path({str(tmp_path)!r}), default=("127.0.0.1", 1))
        sock = url.removeprefix("redis+socket://")
        assert embedded.redis_answers(sock)
        # a second call in the same state dir attaches instead of starting another server
        assert embedded.redis_url(Path({str(tmp_path)!r}), default=("127.0.0.1", 1)) == url
        print(sock)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    sock = out.stdout.strip()
    assert sock.startswith(str(tmp_path))
    assert not embedded.redis_answers(sock)  # the process that started it stopped it at exit


@pytest.mark.slow
def test_embedded_postgres_keeps_data_across_a_restart(tmp_path):
    write = textwrap.dedent(f"""
        import psycopg
        from routerhub import embedded
        url = embedded.postgres_url({str(tmp_path / 'pg')!r}, dbname="persist")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('before restart')")
    """)
    read = textwrap.dedent(f"""
        import psycopg
        from routerhub import embedded
        url = embedded.postgres_url({str(tmp_path / 'pg')!r}, dbname="persist")
        with psycopg.connect(url) as conn:
            print(conn.execute("SELECT v FROM kept").fetchone()[0])
            print(conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone()[0])
    """)
    subprocess.run([sys.executable, "-c", write], check=True, timeout=120)
    # the server stopped when its only holder exited; the next process starts it on the same data
    assert not (tmp_path / "pg" / "postmaster.pid").exists()
    out = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["before", "restart", "1"]
