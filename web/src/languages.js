// The languages as the sign-in form and the settings show them. Pure: `languages` is what GET
// /api/languages lists, `local` its local translation routes by source and target language.

export const languageName = (languages, code) => (languages.find((l) => l.code === code) || { name: code }).name;

// The browser's language if the service has it, else English.
export function browserLanguage(languages, navigatorLanguage) {
  const own = (navigatorLanguage || "en").slice(0, 2);
  return languages.some((l) => l.code === own) ? own : "en";
}

// How well the local engines serve a language, said before anyone commits to it.
export function languageNote(l, local) {
  const reach = Object.keys(local[l.code] || {}).length;
  return `Local speech recognition: ${l.hearing} (${l.hearingNote}). ` +
    `Local voice: ${l.voice} (${l.voiceNote}). ` +
    (reach ? `Translated locally into ${reach} other languages.` : "No local translation from it: a premium engine is needed.");
}

// Solo targets from `own`, each marked with the local translation's quality ("none" without one):
// [{code, text, quality}].
export function soloTargets(languages, local, own) {
  const routes = local[own] || {};
  return languages.filter((l) => l.code !== own).map((l) => {
    const r = routes[l.code];
    const how = r ? `${r.quality}${r.via.length ? `, via ${r.via.map((c) => languageName(languages, c)).join(", ")}` : ""}` : "no local translation";
    return { code: l.code, text: `${l.name} (${l.code}) — ${how}`, quality: r ? r.quality : "none" };
  });
}

// The solo target to show: the one chosen (unless it is your own language), else your language's
// usual partner, not the first entry.
export function soloDefault(languages, own, chosen) {
  const mine = languages.find((l) => l.code === own);
  return chosen && chosen !== own ? chosen : (mine ? mine.partner : "en");
}
