/**
 * The placeholder the admin API shows instead of a private key or a secret key when it has no
 * token (docs/admin.md, "Private keys"), and what validation says when an export holding it is
 * posted back: the placeholder is never stored in place of the real value.
 */
export const REDACTED =
  '<redacted: the admin API has no token, so it shows no private keys or secrets; set admin.token to read them>';

/** The validation message for a field that still holds REDACTED. */
export const REDACTED_REFUSAL =
  'was redacted in an export read without the admin token: put the real value back (or read the configuration with admin.token set)';
