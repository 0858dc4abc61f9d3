// Spoken translations as files (`tts-audio`), played one at a time in the order the messages were
// said (speech-queue.js). In a voice room translations come on your language's track instead.
import { $ } from "./dom.js";
import { audioCame, dueHead, utteranceOf } from "./speech-queue.js";
import { S } from "./state.js";

// A caption of someone else's, translated: its audio is waited for. In a voice room a file comes
// only if the agent could not take it, and is played when it does, with nothing to wait for.
export function expectSpeech(c) {
  if ($("tts").checked && !S.voice && !c.mine && c.speakerId !== S.user.id) S.tts.queue.push({ id: c.id, at: c.at, since: Date.now(), url: null });
}

export function queueSpeech(t) {
  if (!$("tts").checked || S.tts.seen.has(t.messageId)) return;
  const utt = utteranceOf(t.messageId);
  const c = S.captions.get(utt);
  if (c && c.speakerId === S.user.id) return; // never your own speech
  S.tts.seen.add(t.messageId);
  const url = t.url + "#" + encodeURIComponent(t.messageId);
  audioCame(S.tts.queue, { id: utt, at: c ? c.at : Date.now(), url, now: Date.now() });
  playNext();
}

function playNext() {
  if (S.tts.playing) return;
  const head = dueHead(S.tts.queue, Date.now());
  if (!head) return;
  if (!head.url) { clearTimeout(S.tts.timer); S.tts.timer = setTimeout(playNext, 250); return; }
  S.tts.queue.shift();
  S.tts.playing = true;
  const audio = new Audio(head.url);
  const entry = { url: head.url, start: performance.now(), end: null };
  (S.tts.log = S.tts.log || []).push(entry); // what played when: shown to tests, never sent
  const done = () => { entry.end = performance.now(); S.tts.playing = false; playNext(); };
  audio.onended = done; audio.onerror = done;
  audio.play().catch(done);
}
