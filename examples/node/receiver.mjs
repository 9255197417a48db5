// A receiver of Boomerang webhooks, in Node: it checks each webhook's
// signature with the Standard Webhooks library (npm: standardwebhooks) and
// the tenant's signing secret, answers 204 to a valid one and 401 to any
// other, and handles each webhook once, however often it is delivered.
//
//   npm ci
//   BOOMERANG_SIGNING_SECRET=whsec_... PORT=9000 node receiver.mjs
//
// Then create a task with "webhookUrl": "http://127.0.0.1:9000/webhook".
import http from "node:http";
import standardwebhooks from "standardwebhooks";

const { Webhook } = standardwebhooks;

// The tenant's signing secret (whsec_...), from the environment: never from
// a file in the repository.
const webhook = new Webhook(process.env.BOOMERANG_SIGNING_SECRET ?? "");
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9000);
// Boomerang's webhooks carry the target's answer, capped by the node's
// --max-response-body: refuse anything much larger.
const maxBody = 4 << 20;
// The webhook-ids handled; keep them in your database.
const seen = new Set();

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end("POST webhooks here\n");
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > maxBody) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    // Verify the raw body, exactly as it came: parse it only afterwards.
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"];
    let event;
    try {
      // verify checks the signature and that webhook-timestamp is within
      // five minutes of now (so an old webhook cannot be replayed), and
      // returns the parsed body.
      event = webhook.verify(body, req.headers);
    } catch (err) {
      console.log(`rejected ${id}: ${err.message}`);
      res.writeHead(401).end("invalid signature\n");
      return;
    }
    // Delivery is at least once: the same webhook-id may come again (after
    // a timeout, or a redelivery). Handle it once, answer 2xx every time.
    if (seen.has(id)) {
      console.log(`repeated ${id}`);
    } else {
      seen.add(id);
      console.log(`accepted ${id}: ${event.type} task ${event.data.taskId} after ${event.data.attempts} attempts`);
    }
    res.writeHead(204).end();
  });
});

server.listen(port, host, () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}`);
});
