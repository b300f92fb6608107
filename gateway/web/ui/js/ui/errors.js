/**
 * What went wrong, in words for the person at the screen: every refusal of the gateway, the
 * client or the protocol modules becomes one translated sentence (never a stack trace, never a
 * secret).
 */
import { BadPickupCode, CryptoError } from "../protocol/errors.js";
import { ApiError, Refusal } from "./http.js";
import { has, t } from "./i18n.js";

/** Count what looks like a digit, to say how many were typed (the code itself is not echoed). */
function digitCount(text) {
  return (String(text).match(/\p{Nd}/gu) ?? []).length;
}

export function pickupCodeProblem(error, typed = "") {
  return t(`code.error.${error.reason}`, { n: digitCount(typed), digits: 28 });
}

export function describe(error) {
  if (error instanceof BadPickupCode) return pickupCodeProblem(error);
  if (error instanceof ApiError) {
    if (error.code === "rate_limited") return t("error.rate_limited", { seconds: error.retryAfter ?? 60 });
    if (has(`error.${error.code}`)) return t(`error.${error.code}`);
    if (error.status >= 500) return t("error.unavailable");
    return t("error.unexpected", { code: error.code });
  }
  if (error instanceof Refusal) return has(`error.${error.code}`) ? t(`error.${error.code}`) : t("error.unexpected", { code: error.code });
  if (error instanceof CryptoError) return t("error.crypto", { code: error.code });
  console.error("tipline: unexpected error", error);
  return t("error.unexpected", { code: error?.name ?? "error" });
}
