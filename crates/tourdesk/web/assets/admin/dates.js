/**
 * Date helpers of the console: the Monday of a week, a day `n` days on, and a
 * day written long (weekday, day and month in full) or short (abbreviated).
 */
import { formatDate } from '../api.js';

export const monday = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate() - ((d.getDay() + 6) % 7));
export const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
export const longDate = (iso) => formatDate(iso, { weekday: 'long', day: 'numeric', month: 'long' });
export const shortDate = (iso) => formatDate(iso, { weekday: 'short', day: 'numeric', month: 'short' });
