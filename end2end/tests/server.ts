// Starts the real `switchboard` binary in simulator mode on a fresh SQLite file, and can
// kill and restart it on the same file.
import { ChildProcess, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "..", "..");
const binary = process.env.SWITCHBOARD_BIN ?? path.join(root, "target", "debug", "switchboard");

export class Server {
  readonly url: string;
  /** The simulator's demo admin, read from the sign-in page's data once started. */
  demo = { email: "", password: "" };
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(tmpdir(), "switchboard-e2e-"));
  private log = "";
  private cookie = "";

  /** `env`: extra settings for this server, e.g. SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE. */
  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(binary, [], {
      cwd: root,
      env: {
        ...process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
        LEPTOS_SITE_ROOT: "target/site",
        LEPTOS_OUTPUT_NAME: "switchboard",
        DATABASE_URL: `sqlite://${path.join(this.dir, "e2e.db")}`,
        SWITCHBOARD_MEDIA_DIR: path.join(this.dir, "media"),
        SIMULATOR_RECEIPT_DELAYS_MS: process.env.E2E_RECEIPT_DELAYS_MS ?? "700,1400,2100",
        RUST_LOG: "info",
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (d) => (this.log += d));
    this.child.stderr?.on("data", (d) => (this.log += d));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`server exited early:\n${this.log}`);
      }
      try {
        const res = await fetch(`${this.url}/readyz`);
        if (res.ok) {
          await this.signInForScripts();
          return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not become ready:\n${this.log}`);
  }

  /** Hard kill, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Signs in as the demo admin over HTTP, for the test's own calls. */
  private async signInForScripts(): Promise<void> {
    const info = await this.api("sign_in_info", {});
    this.demo = info.demo;
    const res = await fetch(`${this.url}/api/sign_in`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: this.url },
      body: JSON.stringify(this.demo),
    });
    if (!res.ok) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
    this.cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
  }

  /** Calls a server function as the demo admin. */
  async api(name: string, args: object): Promise<any> {
    const res = await fetch(`${this.url}/api/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: this.url, cookie: this.cookie },
      body: JSON.stringify(args),
    });
    if (!res.ok) throw new Error(`${name}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** Every message the simulated Cloud API accepted, as it received them. */
  async sent(): Promise<any[]> {
    const res = await fetch(`${this.url}/_sim/sent`, { headers: { cookie: this.cookie } });
    if (!res.ok) throw new Error(`simulator: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** A simulated customer writes (through the simulator's signed webhook). */
  async customerWrites(waId: string, text: string): Promise<void> {
    const res = await fetch(`${this.url}/_sim/customer/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: this.url, cookie: this.cookie },
      body: JSON.stringify({ wa_id: waId, text }),
    });
    if (!res.ok) throw new Error(`simulator: ${res.status} ${await res.text()}`);
  }

  /** A simulated customer sends any message type; returns its wamid. */
  async customerSends(args: object): Promise<string> {
    const res = await fetch(`${this.url}/_sim/customer/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: this.url, cookie: this.cookie },
      body: JSON.stringify(args),
    });
    if (!res.ok) throw new Error(`simulator: ${res.status} ${await res.text()}`);
    return (await res.json()).wamid;
  }

  /** POSTs a webhook body signed with the simulator's app secret, as Meta would. */
  async postWebhook(body: object): Promise<void> {
    const raw = JSON.stringify(body);
    const sig = createHmac("sha256", "switchboard-simulator-app-secret").update(raw).digest("hex");
    const res = await fetch(`${this.url}/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${sig}` },
      body: raw,
    });
    if (!res.ok) throw new Error(`webhook: ${res.status} ${await res.text()}`);
  }

  output(): string {
    return this.log;
  }
}
