/**
 * A router carrying other route objects under the same compiled rules (router.ts, l4-router.ts):
 * a generation whose routes only point at rebuilt services copies the entries, compiling no
 * matcher and sorting nothing.
 */
export function remapEntries<T extends object, R, E extends { readonly route: R }>(
  router: T,
  entries: readonly E[],
  map: ReadonlyMap<R, R>,
): T {
  const copy = Object.create(Object.getPrototypeOf(router)) as T;
  (copy as unknown as { entries: E[] }).entries = entries.map((e) => {
    const r = map.get(e.route);
    return r === undefined ? e : { ...e, route: r };
  });
  return copy;
}
