/**
 * Figures of the console in words: a party ("2 adults, 1 child") and a
 * departure's cancellation or closure reason.
 */

/** A departure's cancellation or closure reason in words (the minimum's is recorded as a code). */
export const reasonText = (reason) => (reason === 'minimum_not_reached' ? 'did not reach its minimum' : reason);

/** "2 adults, 1 child": a party in words. */
export function party(b) {
  const part = (n, one, many) => (n ? `${n} ${n === 1 ? one : many}` : '');
  return [part(b.num_adults, 'adult', 'adults'), part(b.num_children, 'child', 'children'), part(b.num_infants, 'infant', 'infants')]
    .filter(Boolean).join(', ');
}
