/** basic-auth's stored password form (why this one: basic-auth.ts). */
import { createHash } from 'node:crypto';

/** Kong's stored basic-auth password: hex SHA-1 of the password followed by the consumer id. */
export function hashBasicPassword(password: string, consumerId: string): string {
  return createHash('sha1')
    .update(password + consumerId)
    .digest('hex');
}
