"""An Inngest event API stand-in that can be black-holed: it accepts connections and never answers.

`down()`: every request is read and then held, unanswered, until `up()`, which drops the held connections
without an answer (those sends were never accepted) and answers the next requests like Inngest's event API
(`{"ids": [...], "status": 200}`), counting every event id it accepted.

`refuse(event_id)`: a request carrying that event is answered 400 with an error naming it, as Inngest's event API
answers a request with an event it cannot take; the events before it in that request count as accepted (Inngest
stores events one by one as it reads them, so a resend of those is de-duplicated by id).

Not merged with inngest_event_api.FakeEventApi, which records what the functions emit: that one is werkzeug's
server, which answers every request it reads, and the outbox relay's tests need a request that is read and never
answered (the connection dropped), and a refusal that accepts the events before the bad one.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BlackHoleEventApi:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.held = 0  # requests received while black-holed
        self.refused: set[str] = set()
        self.requests = 0  # requests answered
        self.every_answer: int | None = None  # answer every request with this status (an outage, a bad key)
        self._answering = threading.Event()
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not stand_in._answering.is_set():
                    with stand_in._lock:
                        stand_in.held += 1
                    stand_in._answering.wait()
                    self.close_connection = True
                    self.connection.close()  # dropped: never answered, never accepted
                    return
                if stand_in.every_answer is not None:
                    with stand_in._lock:
                        stand_in.requests += 1
                    status = stand_in.every_answer
                    self._answer(status, json.dumps({"error": f"HTTP {status} from the stand-in"}).encode())
                    return
                events = json.loads(body)
                ids = [event["id"] for event in events]
                poison = next((index for index, event_id in enumerate(ids) if event_id in stand_in.refused), None)
                with stand_in._lock:
                    stand_in.requests += 1
                    stand_in.accepted.update(ids if poison is None else ids[:poison])
                if poison is None:
                    status, answer = 200, {"ids": [f"accepted-{i}" for i in range(len(events))], "status": 200}
                else:
                    status, answer = 400, {"error": f"event {ids[poison]} is not valid", "status": 400}
                self._answer(status, json.dumps(answer).encode())

            def _answer(self, status: int, answer: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BlackHoleEventApi:
        self._thread.start()
        return self

    def refuse(self, event_id: str) -> None:
        self.refused.add(event_id)

    def down(self) -> None:
        self._answering.clear()

    def up(self) -> None:
        self._answering.set()

    def stop(self) -> None:
        self._answering.set()
        self._server.shutdown()
        self._server.server_close()
