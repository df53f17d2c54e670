/**
 * What every authentication plugin does on success or with `anonymous` (Kong's set_consumer):
 * record the consumer and credential for later plugins and `hash_on: consumer`, and tell the
 * target who it is with X-Consumer-* headers (client-sent values of those headers are replaced
 * or removed, so a client cannot claim an identity).
 */
import type { ConsumerSpec } from '../config/types.ts';
import type { Credential } from './consumers.ts';
import type { LocalReply, PluginRequest } from './types.ts';

export function setConsumer(r: PluginRequest, consumer: ConsumerSpec, credential: Credential | null): void {
  r.consumer = consumer;
  r.credential = credential;
  r.setRequestHeader('x-consumer-id', consumer.id);
  r.setRequestHeader('x-consumer-custom-id', consumer.customId ?? null);
  r.setRequestHeader('x-consumer-username', consumer.username ?? null);
  r.setRequestHeader('x-credential-identifier', credential?.id ?? null);
  r.setRequestHeader('x-credential-username', credential?.username || null);
  r.setRequestHeader('x-anonymous-consumer', credential === null ? 'true' : null);
}

/**
 * After a failed authentication: with `anonymous` the request goes on as that consumer (a logical
 * OR between several authentication plugins); without, the failure is the reply.
 */
export function failOrAnonymous(
  r: PluginRequest,
  anonymous: string | null,
  failure: LocalReply,
): LocalReply | null {
  if (anonymous === null) return failure;
  const c = r.consumers.find(anonymous);
  // A missing anonymous consumer loads with a warning (as in Kong) and fails closed, as Kong does.
  if (c === null) return { status: 500, body: { message: 'An unexpected error occurred' } };
  setConsumer(r, c, null);
  return null;
}

/** `anonymous` set and an earlier authentication plugin already succeeded: nothing to do. */
export function alreadyAuthenticated(r: PluginRequest, anonymous: string | null): boolean {
  return anonymous !== null && r.credential !== null;
}
