// A thin Judge0 client that follows Judge0 CE's documented usage (no maintained Judge0 client is
// on npm): POST /submissions → token, then GET /submissions/:token until the status is no longer
// In Queue (1) or Processing (2); optional base64_encoded, wait and fields; X-Auth-Token.
export interface Judge0Submission {
  token?: string;
  status?: { id: number; description: string };
  [field: string]: unknown;
}

export class Judge0Client {
  constructor(private readonly baseUrl: string, private readonly authToken?: string) {}

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.authToken ? { 'x-auth-token': this.authToken } : {}), ...extra };
  }

  async request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }> {
    const res = await fetch(this.baseUrl + path, { method, headers: this.#headers(headers), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* plain text (e.g. /version) */ }
    return { status: res.status, body: parsed };
  }

  static query(params: Record<string, string | boolean | undefined>): string {
    const q = Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
    return q.length ? `?${q.join('&')}` : '';
  }

  create(submission: Record<string, unknown>, opts: { base64?: boolean; wait?: boolean; fields?: string } = {}) {
    return this.request('POST', `/submissions/${Judge0Client.query({ base64_encoded: opts.base64, wait: opts.wait, fields: opts.fields })}`, submission);
  }

  get(token: string, opts: { base64?: boolean; fields?: string } = {}) {
    return this.request('GET', `/submissions/${token}${Judge0Client.query({ base64_encoded: opts.base64, fields: opts.fields })}`);
  }

  /** Polls until the submission leaves In Queue/Processing (bounded number of polls). */
  async waitFor(token: string, opts: { base64?: boolean; fields?: string } = {}, maxPolls = 200): Promise<Judge0Submission> {
    for (let i = 0; i < maxPolls; i++) {
      const { status, body } = await this.get(token, opts);
      if (status !== 200) throw new Error(`GET /submissions/${token} answered ${status}: ${JSON.stringify(body)}`);
      if (body.status.id > 2) return body;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`submission ${token} did not finish after ${maxPolls} polls`);
  }
}
