/**
 * Consumers and their credentials indexed for the authentication plugins: built once per
 * generation (only when some plugin is configured), read on the hot path by one Map lookup.
 */
import type { ConsumerSpec, JwtSecretSpec } from '../config/types.ts';

/** One credential that authenticated a request (`kind` names the credential collection). */
export interface Credential {
  readonly id: string;
  readonly kind: 'keyauth' | 'basicauth' | 'jwt';
  /** basic-auth: the credential's username (`X-Credential-Username`); otherwise ''. */
  readonly username: string;
}

export interface CredentialHit {
  readonly consumer: ConsumerSpec;
  readonly credential: Credential;
}

export interface BasicHit extends CredentialHit {
  readonly passwordHash: string;
}

export interface JwtHit extends CredentialHit {
  readonly secret: JwtSecretSpec;
}

export class ConsumerIndex {
  private readonly byId = new Map<string, ConsumerSpec>();
  private readonly byUsername = new Map<string, ConsumerSpec>();
  private readonly keys = new Map<string, CredentialHit>();
  private readonly basic = new Map<string, BasicHit>();
  private readonly groups = new Map<string, ReadonlySet<string>>();
  private readonly jwt = new Map<string, JwtHit>();

  constructor(consumers: readonly ConsumerSpec[]) {
    for (const c of consumers) {
      this.byId.set(c.id, c);
      if (c.username !== undefined) this.byUsername.set(c.username, c);
      for (const k of c.keyauthCredentials)
        this.keys.set(k.key, { consumer: c, credential: { id: k.id, kind: 'keyauth', username: '' } });
      for (const b of c.basicauthCredentials)
        this.basic.set(b.username, {
          consumer: c,
          credential: { id: b.id, kind: 'basicauth', username: b.username },
          passwordHash: b.passwordHash,
        });
      this.groups.set(c.id, new Set(c.acls));
      for (const j of c.jwtSecrets)
        this.jwt.set(j.key, { consumer: c, credential: { id: j.id, kind: 'jwt', username: '' }, secret: j });
    }
  }

  /** A consumer by id, else by username (Kong's `anonymous` and references accept both). */
  find(ref: string): ConsumerSpec | null {
    return this.byId.get(ref) ?? this.byUsername.get(ref) ?? null;
  }

  byKey(key: string): CredentialHit | null {
    return this.keys.get(key) ?? null;
  }

  byBasicUsername(username: string): BasicHit | null {
    return this.basic.get(username) ?? null;
  }

  /** Every jwt secret (the jwt plugin compiles their keys once per generation). */
  jwtSecrets(): Iterable<JwtHit> {
    return this.jwt.values();
  }

  groupsOf(consumerId: string): ReadonlySet<string> {
    return this.groups.get(consumerId) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
