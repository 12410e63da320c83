// The load tool's reference peer: what a bare Node.js server does with the same traffic.
// It checks each webhook's signature, answers 200 and sends the body to every socket,
// storing nothing. `node server.js PORT APP_SECRET`
const http = require("node:http");
const { createHmac, timingSafeEqual } = require("node:crypto");
const { WebSocketServer } = require("ws");

const [port, secret] = process.argv.slice(2);
const wss = new WebSocketServer({ noServer: true });
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/readyz") return res.end("ok");
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const want = Buffer.from("sha256=" + createHmac("sha256", secret).update(body).digest("hex"));
    const got = Buffer.from(req.headers["x-hub-signature-256"] || "");
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      res.statusCode = 401;
      return res.end();
    }
    res.end();
    const frame = `{"type":"message.created","webhook":${body}}`;
    for (const ws of wss.clients) ws.send(frame);
  });
});
server.on("upgrade", (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => ws.send('{"type":"ready"}')),
);
server.listen(Number(port), "127.0.0.1");
