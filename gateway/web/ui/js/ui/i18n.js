/**
 * The page's strings in its language. The gateway renders them into a JSON data block
 * (<script type="application/json" id="strings">, never executed) from ui/i18n/<lang>.json;
 * scripts look them up here, so no script holds visible text of its own.
 */

const block = document.getElementById("strings");
const strings = block === null ? {} : JSON.parse(block.textContent);

export const language = document.documentElement.lang || "en";

/** The text for `key`, with `{name}` replaced from `values`. A missing key is a bug: say so. */
export function t(key, values = {}) {
  const text = strings[key];
  if (typeof text !== "string") {
    console.error(`tipline: no ${language} text for ${key}`);
    return `[${key}]`;
  }
  return text.replace(/\{([a-z_]+)\}/g, (match, name) => (Object.hasOwn(values, name) ? String(values[name]) : match));
}

/** True when the page has a text for `key` (for codes the server may add later). */
export function has(key) {
  return typeof strings[key] === "string";
}

const sizeUnits = ["size.bytes", "size.kb", "size.mb", "size.gb"];

/** 1234567 -> "1.2 MB" in the page's language. */
export function formatSize(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < sizeUnits.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const number = new Intl.NumberFormat(language, { maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value);
  return t(sizeUnits[unit], { n: number });
}

const timeFormat = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });

/** Unix seconds or an ISO 8601 string, as a date and time in the page's language. */
export function formatTime(moment) {
  const date = typeof moment === "number" ? new Date(moment * 1000) : new Date(moment);
  return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
}
