// The order spoken translations play in. Audio can arrive out of order (each is synthesized on its
// own); it is played in the order the messages were said, one at a time. A message whose audio is
// late is waited for up to TTS_WAIT_MS. Pure: speech.js plays the queue.
// A queue item: {id: utterance id, at: when it was said, since: when it was queued, url: null until its audio came}.

export const TTS_WAIT_MS = 4000;

// A `tts-audio` message id is "<utterance id>:<language>".
export const utteranceOf = (messageId) => String(messageId).split(":")[0];

// The audio of utterance `id` came: it fills the item waiting for it, or joins the queue; the
// queue is kept in the order things were said.
export function audioCame(queue, { id, at, url, now }) {
  const item = queue.find((q) => q.id === id);
  if (item) item.url = url;
  else queue.push({ id, at, since: now, url });
  queue.sort((a, b) => a.at - b.at);
}

// Items at the head whose audio never came in time are dropped: they do not hold the rest back.
// Returns the head (null if the queue is empty).
export function dueHead(queue, now, wait = TTS_WAIT_MS) {
  while (queue.length && !queue[0].url && now - queue[0].since > wait) queue.shift();
  return queue[0] || null;
}
