"""A TCP proxy the tests can pause, to stand for a server that stops answering (a paused Postgres):
while paused, it accepts connections and holds every byte, so the peers' sockets stay open and
silent, as with a SIGSTOPped server; resumed, it forwards again."""
from __future__ import annotations

import select
import socket
import threading
from urllib.parse import quote

import psycopg.conninfo


class PausableProxy:
    def __init__(self, target: tuple[str, int] | str):
        self.target = target  # (host, port), or a Unix socket's path
        self._running = threading.Event()
        self._running.set()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self.database_url = ""
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def for_database(cls, url: str) -> PausableProxy:
        """A proxy in front of the Postgres at libpq `url`; its `database_url` goes through it."""
        info = psycopg.conninfo.conninfo_to_dict(url)
        host, port = info.get("host") or "localhost", int(info.get("port") or 5432)
        proxy = cls(f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port))
        user = quote(info.get("user") or "postgres")
        password = quote(info.get("password") or "")
        proxy.database_url = f"postgresql://{user}:{password}@127.0.0.1:{proxy.port}/{info['dbname']}"
        return proxy

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def close(self) -> None:
        self._closed.set()
        self._running.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> PausableProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._running.wait()  # a connection made while paused gets no answer until resumed
        if self._closed.is_set():
            client.close()
            return
        family = socket.AF_UNIX if isinstance(self.target, str) else socket.AF_INET
        upstream = socket.socket(family, socket.SOCK_STREAM)
        upstream.connect(self.target)
        self._sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                if not self._running.wait(0.1):
                    continue
                readable, _, _ = select.select([src], [], [], 0.1)
                if not readable:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                self._running.wait()  # paused between the read and the write: hold the bytes
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
