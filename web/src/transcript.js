// The transcript download: the caption store in export.js's formats.
import { download } from "./dom.js";
import { toJSON, toSRT, toVTT } from "./export.js";
import { S } from "./state.js";

export function exportAs(kind) {
  const list = [...S.captions.values()];
  const base = `live-translator-${S.room ? S.room.code : "transcript"}`;
  if (kind === "srt") download(`${base}.srt`, "application/x-subrip", toSRT(list));
  else if (kind === "vtt") download(`${base}.vtt`, "text/vtt", toVTT(list));
  else download(`${base}.json`, "application/json", toJSON(list, S.room && S.room.code));
}
