/**
 * An OTLP/HTTP trace receiver for tests: a node:http server on 127.0.0.1 port 0 that accepts
 * `POST /v1/traces` in OTLP/JSON (what @opentelemetry/exporter-trace-otlp-http sends) and keeps the
 * spans, flattened, with their attributes as plain values.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** OTLP span kinds (opentelemetry-proto trace.proto). */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export const STATUS_ERROR = 2;

export type AttrValue = string | number | boolean | AttrValue[] | null;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Record<string, AttrValue>;
  readonly events: { name: string; attributes: Record<string, AttrValue> }[];
  readonly status: { code: number; message: string };
  readonly resource: Record<string, AttrValue>;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** The headers of each export request received. */
  readonly requests: IncomingHttpHeaders[];
  close(): Promise<void>;
}

interface JsonAny {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: JsonAny[] };
}

type JsonAttrs = { key: string; value: JsonAny }[] | undefined;

function value(v: JsonAny): AttrValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(value);
  return null;
}

function attrs(list: JsonAttrs): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const a of list ?? []) out[a.key] = value(a.value);
  return out;
}

/** Decode one OTLP/JSON ExportTraceServiceRequest into flat spans. */
export function decodeTraces(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the wire format, checked field by field below
  for (const rs of (body as any).resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e: { name: string; attributes: JsonAttrs }) => ({
            name: e.name,
            attributes: attrs(e.attributes),
          })),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          resource,
        });
  }
  return out;
}

/** `status`: what every export gets (a collector that refuses them: 400, keeping nothing). */
export async function startOtlpReceiver(opts: { status?: number } = {}): Promise<OtlpReceiver> {
  const status = opts.status ?? 200;
  const spans: ReceivedSpan[] = [];
  const requests: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(req.headers);
      if (req.method !== 'POST' || req.url !== '/v1/traces' || status !== 200) {
        res.writeHead(req.url === '/v1/traces' ? status : 404).end();
        return;
      }
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      spans.push(...decodeTraces(JSON.parse(raw.toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
