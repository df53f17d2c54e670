/**
 * The config worker's thread (started by config-pipeline.ts): it receives a job in pieces, runs it
 * (src/store/config-jobs.ts: parse, validate, normalize, import, save) and sends the result back in
 * pieces, one each time the main thread asks for more, so that the main thread deserializes a
 * slice at a time between the requests it is serving.
 */
import { parentPort } from 'node:worker_threads';
import { BulkJoin, type BulkPart, splitBulk } from '../core/bulk.ts';
import { type ConfigJob, runConfigJob } from '../store/config-jobs.ts';
import type { FromWorker, ToWorker } from './config-pipeline.ts';

const port = parentPort!;
const incoming = new Map<number, BulkJoin>();
const outgoing = new Map<number, { parts: BulkPart[]; next: number }>();
const send = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'job':
      incoming.set(m.id, new BulkJoin(m.head));
      break;
    case 'part':
      incoming.get(m.id)?.add(m.part);
      break;
    case 'end': {
      const job = incoming.get(m.id);
      incoming.delete(m.id);
      if (job === undefined) break;
      let split: ReturnType<typeof splitBulk>;
      try {
        split = splitBulk(runConfigJob(job.value as ConfigJob));
      } catch (err) {
        send({ t: 'error', id: m.id, message: (err as Error).message });
        break;
      }
      outgoing.set(m.id, { parts: split.parts, next: 0 });
      send({ t: 'head', id: m.id, head: split.head });
      break;
    }
    case 'more': {
      const out = outgoing.get(m.id);
      if (out === undefined) break;
      if (out.next < out.parts.length) send({ t: 'part', id: m.id, part: out.parts[out.next++]! });
      else {
        outgoing.delete(m.id);
        send({ t: 'end', id: m.id });
      }
      break;
    }
  }
});
