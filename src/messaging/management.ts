/**
 * A small client of the RabbitMQ management HTTP API: what exists on the broker, for reports,
 * tests and the dead-letter tools. The vhost is the one in AMQP_URL.
 */
export interface ManagementTarget {
  RABBITMQ_MANAGEMENT_URL: string;
  AMQP_URL: string;
}

/** A queue as the management API describes it (the fields ragmail reads). */
export interface ManagementQueue {
  name: string;
  durable: boolean;
  arguments: Record<string, unknown>;
  type?: string;
  /** Ready plus unacknowledged. */
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  /** Rates; absent until the broker has sampled the queue. */
  message_stats?: { publish_details?: { rate?: number }; deliver_get_details?: { rate?: number } };
}

export class ManagementClient {
  private readonly base: string;
  private readonly authorization: string;
  readonly vhost: string;

  constructor(target: ManagementTarget) {
    const url = new URL(target.RABBITMQ_MANAGEMENT_URL);
    this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
    this.base = url.toString().replace(/\/?$/, '/');
    this.vhost = decodeURIComponent(new URL(target.AMQP_URL).pathname.slice(1)) || '/';
  }

  /** GET/PUT/DELETE/POST on `api/<path>`; resolves to the parsed JSON body (or null when empty). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(new URL(`api/${path}`, this.base), {
      method,
      headers: { authorization: this.authorization, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`management API ${method} ${path}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  private get encodedVhost(): string {
    return encodeURIComponent(this.vhost);
  }

  exchanges(): Promise<Array<{ name: string; type: string; durable: boolean; arguments: Record<string, unknown> }>> {
    return this.request('GET', `exchanges/${this.encodedVhost}`);
  }

  queues(): Promise<ManagementQueue[]> {
    return this.request('GET', `queues/${this.encodedVhost}`);
  }

  bindings(): Promise<Array<{ source: string; destination: string; destination_type: string; routing_key: string }>> {
    return this.request('GET', `bindings/${this.encodedVhost}`);
  }

  connections(): Promise<Array<{ name: string; vhost: string; client_properties?: Record<string, unknown> }>> {
    return this.request('GET', 'connections');
  }

  /** Force-closes a connection, as an operator would from the management UI. */
  closeConnection(name: string): Promise<void> {
    return this.request('DELETE', `connections/${encodeURIComponent(name)}`);
  }
}
