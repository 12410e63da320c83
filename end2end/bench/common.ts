// What both browser benchmarks share: signed customer webhooks and a quantile line.
import { createHmac } from "node:crypto";

export type Incoming = { from: string; name: string; id: string; text: string; ts: number };

/** One webhook body carrying these customer messages, as Meta may batch them. */
export function body(messages: Incoming[]): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{
      id: "100000000000001",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550001000", phone_number_id: "200000000000001" },
          contacts: [...new Map(messages.map((m) => [m.from, { profile: { name: m.name }, wa_id: m.from }])).values()],
          messages: messages.map((m) => ({ from: m.from, id: m.id, timestamp: String(m.ts), type: "text", text: { body: m.text } })),
        },
      }],
    }],
  });
}

/** The simulator's app secret signs what the benchmarks post. */
export const sign = (raw: string) =>
  "sha256=" + createHmac("sha256", "switchboard-simulator-app-secret").update(raw).digest("hex");

/** Posts a webhook from Node. */
async function post(url: string, raw: string): Promise<void> {
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": sign(raw) },
    body: raw,
  });
  if (!res.ok) throw new Error(`webhook: ${res.status} ${await res.text()}`);
}

/** Fills the store before the page opens: `count` customer messages, the `n`th made by
 * `message(n, ts)`, a second apart and ending a minute ago, 100 to a webhook (as Meta may
 * batch them). */
export async function fill(url: string, count: number, message: (n: number, ts: number) => Incoming): Promise<void> {
  const start = Math.floor(Date.now() / 1000) - count - 60;
  for (let i = 0; i < count; i += 100) {
    const batch = [];
    for (let n = i; n < Math.min(i + 100, count); n++) batch.push(message(n, start + n));
    await post(url, body(batch));
  }
}

export function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))];
  return `p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms (${s.length})`;
}

export function table(title: string, rows: [string, string][]): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
