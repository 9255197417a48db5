"""A receiver of Boomerang webhooks, in Python (standard library only, plus
the Standard Webhooks package): it checks each webhook's signature with the
tenant's signing secret, answers 204 to a valid one and 401 to any other,
and handles each webhook once, however often it is delivered.

    pip install standardwebhooks
    BOOMERANG_SIGNING_SECRET=whsec_... PORT=9000 python receiver.py

Then create a task with "webhookUrl": "http://127.0.0.1:9000/webhook".
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from standardwebhooks.webhooks import Webhook

# The tenant's signing secret (whsec_...), from the environment: never from
# a file in the repository.
webhook = Webhook(os.environ["BOOMERANG_SIGNING_SECRET"])
# Boomerang's webhooks carry the target's answer, capped by the node's
# --max-response-body: refuse anything much larger.
MAX_BODY = 4 << 20
# The webhook-ids handled; keep them in your database.
seen, seen_lock = set(), Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_response(413)
            self.end_headers()
            return
        # Verify the raw body, exactly as it came: parse it only afterwards.
        body = self.rfile.read(length)
        msg_id = self.headers.get("webhook-id")
        try:
            # verify checks the signature and that webhook-timestamp is
            # within five minutes of now (so an old webhook cannot be
            # replayed), and returns the parsed body.
            event = webhook.verify(body, dict(self.headers))
        except Exception as err:  # WebhookVerificationError, or bad headers
            print(f"rejected {msg_id}: {err}", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        # Delivery is at least once: the same webhook-id may come again
        # (after a timeout, or a redelivery). Handle it once, answer 2xx
        # every time.
        with seen_lock:
            repeat = msg_id in seen
            seen.add(msg_id)
        if repeat:
            print(f"repeated {msg_id}", flush=True)
        else:
            data = event["data"]
            print(f"accepted {msg_id}: {event['type']} task {data['taskId']} after {data['attempts']} attempts", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass  # one line per webhook is printed above


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "9000"))), Receiver)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    server.serve_forever()
