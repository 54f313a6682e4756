// Number, money and time formatting: one place, so every page reads the same.
const integer = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 });

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : integer.format(value);
}

export function short(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return Math.abs(value) < 10_000 ? integer.format(value) : compact.format(value);
}

export function money(value: number | string | null | undefined, currency?: string | null): string {
  if (value === null || value === undefined || value === "") return "—";
  const amount = typeof value === "string" ? Number(value) : value;
  if (!Number.isFinite(amount)) return String(value);
  const digits = Math.abs(amount) >= 10_000 ? 0 : 2;
  const text = amount.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return currency ? `${text} ${currency}` : text;
}

export function percent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${(value * 100).toFixed(digits)}%`;
}

export function score(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toFixed(3);
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(0)} ms`;
}

const dateTime = new Intl.DateTimeFormat("en-GB", {
  year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "UTC",
});
const timeOnly = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "UTC" });
const dayOnly = new Intl.DateTimeFormat("en-GB", { month: "short", day: "2-digit", timeZone: "UTC" });
const hourOnly = new Intl.DateTimeFormat("en-GB", { month: "short", day: "2-digit", hour: "2-digit", timeZone: "UTC" });

export function when(value: string | null | undefined): string {
  return value ? `${dateTime.format(new Date(value))} UTC` : "—";
}

export function clock(value: string | null | undefined): string {
  return value ? timeOnly.format(new Date(value)) : "—";
}

export function day(value: string): string {
  return dayOnly.format(new Date(value));
}

export function hour(value: string): string {
  return `${hourOnly.format(new Date(value))}h`;
}

/** "in 2 h 5 min" / "12 min ago" relative to now. */
export function relative(value: string, now = Date.now()): string {
  const delta = new Date(value).getTime() - now;
  const minutes = Math.round(Math.abs(delta) / 60_000);
  if (minutes === 0) return delta >= 0 ? "now" : "just now";
  const text = minutes < 60 ? `${minutes} min` : minutes < 60 * 48 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${Math.round(minutes / 1440)} d`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

export function label(value: string): string {
  return value.replace(/_/g, " ");
}
