/**
 * A loopback Pinecone: control plane (`GET /indexes/<name>`) and data plane (upsert, query, list,
 * delete, stats) on one node:http server, answering in Pinecone's wire format. Vectors live in
 * memory per namespace and queries compute cosine similarity for real, so ranking is tested, not
 * scripted. A test can script the next responses (`enqueue`) and inspect every request.
 *
 * One deviation from the real service: the described `host` carries the `http://` scheme, since the
 * fake speaks plain HTTP and the SDK only adds `https://` to hosts without one.
 */
import { startScriptedServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export type { RecordedRequest, ScriptedResponse };

/** A stored record. */
export interface StoredVector {
  id: string;
  values: number[];
  metadata?: Record<string, unknown>;
}

export interface FakePinecone {
  /** Base URL of both planes, e.g. `http://127.0.0.1:43121`. */
  url: string;
  requests: RecordedRequest[];
  enqueue(response: ScriptedResponse): void;
  /** The records of a namespace, by id. */
  namespace(name: string): Map<string, StoredVector>;
  close(): Promise<void>;
}

/** Options of {@link startFakePinecone}. */
export interface FakePineconeOptions {
  /** The one index that exists; default `ragmail`. */
  indexName?: string;
  /** Its dimension; upserts and queries of another length get a 400. Default 32. */
  dimension?: number;
  /** When set, any other `Api-Key` gets a 401; default every key is accepted. */
  apiKey?: string;
}

/** The error body of the control plane. */
function controlError(status: number, code: string, message: string): { status: number; body: unknown } {
  return { status, body: { error: { code, message }, status } };
}

/** The error body of the data plane (gRPC status codes). */
function dataError(status: number, grpcCode: number, message: string): { status: number; body: unknown } {
  return { status, body: { code: grpcCode, message, details: [] } };
}

function cosine(left: number[], right: number[]): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let position = 0; position < left.length; position += 1) {
    dot += left[position] * right[position];
    leftNorm += left[position] ** 2;
    rightNorm += right[position] ** 2;
  }
  return leftNorm === 0 || rightNorm === 0 ? 0 : dot / Math.sqrt(leftNorm * rightNorm);
}

/** Starts the fake on 127.0.0.1 at a free port. */
export async function startFakePinecone(options: FakePineconeOptions = {}): Promise<FakePinecone> {
  const indexName = options.indexName ?? 'ragmail';
  const dimension = options.dimension ?? 32;
  const namespaces = new Map<string, Map<string, StoredVector>>();
  let url = '';

  const namespace = (name: string): Map<string, StoredVector> => {
    let records = namespaces.get(name);
    if (!records) {
      records = new Map();
      namespaces.set(name, records);
    }
    return records;
  };

  function answer(request: RecordedRequest): { status: number; body: unknown } {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (request.method === 'GET' && request.path.startsWith('/indexes/')) {
      const name = decodeURIComponent(request.path.slice('/indexes/'.length));
      if (name !== indexName) return controlError(404, 'NOT_FOUND', `Resource ${name} not found`);
      return {
        status: 200,
        body: {
          name,
          dimension,
          metric: 'cosine',
          host: url,
          vector_type: 'dense',
          deletion_protection: 'disabled',
          tags: null,
          spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
          status: { ready: true, state: 'Ready' },
        },
      };
    }
    const records = namespace(String(body.namespace ?? request.query.namespace ?? ''));
    switch (`${request.method} ${request.path}`) {
      case 'POST /vectors/upsert': {
        const vectors = (body.vectors ?? []) as StoredVector[];
        if (vectors.length > 1000) return dataError(400, 3, 'Cannot upsert more than 1000 vectors in a single request');
        const wrong = vectors.find((vector) => vector.values.length !== dimension);
        if (wrong) {
          return dataError(400, 3, `Vector dimension ${wrong.values.length} does not match the dimension of the index ${dimension}`);
        }
        for (const vector of vectors) records.set(vector.id, { id: vector.id, values: vector.values, metadata: vector.metadata });
        return { status: 200, body: { upsertedCount: vectors.length } };
      }
      case 'POST /query': {
        const vector = (body.vector ?? []) as number[];
        if (vector.length !== dimension) {
          return dataError(400, 3, `Query vector dimension ${vector.length} does not match the dimension of the index ${dimension}`);
        }
        const matches = [...records.values()]
          .map((record) => ({ record, score: cosine(vector, record.values) }))
          .sort((left, right) => right.score - left.score)
          .slice(0, Number(body.topK ?? 10))
          .map(({ record, score }) => ({
            id: record.id,
            score,
            values: body.includeValues ? record.values : [],
            ...(body.includeMetadata && record.metadata ? { metadata: record.metadata } : {}),
          }));
        return { status: 200, body: { results: [], matches, namespace: String(body.namespace ?? ''), usage: { readUnits: 5 } } };
      }
      case 'GET /vectors/list': {
        const prefix = request.query.prefix ?? '';
        const limit = Number(request.query.limit ?? 100);
        const ids = [...records.keys()].filter((id) => id.startsWith(prefix)).sort();
        const start = request.query.paginationToken ? Number(Buffer.from(request.query.paginationToken, 'base64').toString()) : 0;
        const page = ids.slice(start, start + limit);
        const next = start + limit < ids.length ? Buffer.from(String(start + limit)).toString('base64') : undefined;
        return {
          status: 200,
          body: {
            vectors: page.map((id) => ({ id })),
            ...(next ? { pagination: { next } } : {}),
            namespace: request.query.namespace ?? '',
            usage: { readUnits: 1 },
          },
        };
      }
      case 'POST /vectors/delete': {
        if (body.filter) {
          return dataError(400, 3, 'Serverless and Starter indexes do not support deleting with metadata filtering');
        }
        if (body.deleteAll) records.clear();
        for (const id of (body.ids ?? []) as string[]) records.delete(id);
        return { status: 200, body: {} };
      }
      case 'POST /describe_index_stats':
      case 'GET /describe_index_stats': {
        const summary = Object.fromEntries([...namespaces].map(([name, stored]) => [name, { vectorCount: stored.size }]));
        const total = [...namespaces.values()].reduce((sum, stored) => sum + stored.size, 0);
        return {
          status: 200,
          body: { namespaces: summary, dimension, indexFullness: 0, totalVectorCount: total, metric: 'cosine', vectorType: 'dense' },
        };
      }
      default:
        return dataError(404, 5, `Not Found: ${request.method} ${request.path}`);
    }
  }

  // Scripted answers come first; then the key is checked, then the fake answers.
  const server = await startScriptedServer((request) =>
    options.apiKey !== undefined && request.headers['api-key'] !== options.apiKey ? controlError(401, 'UNAUTHENTICATED', 'Invalid API Key') : answer(request),
  );
  url = server.url;

  return {
    url,
    requests: server.requests,
    enqueue: server.enqueue,
    namespace,
    close: () => server.close(),
  };
}
