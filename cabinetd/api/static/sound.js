"use strict";
// Short tones for a person who is not looking at the screen: a rising one when a door unlocks, a low
// one when the cabinet says no. Made with WebAudio (no sound files); silent when the cabinet's
// `[kiosk] sound` is off. Loaded before kiosk.js.

const TONES = {
  unlock: [
    { hz: 660, at: 0, for: 0.12 },
    { hz: 990, at: 0.13, for: 0.18 },
  ],
  refusal: [
    { hz: 330, at: 0, for: 0.25 },
    { hz: 247, at: 0.27, for: 0.3 },
  ],
};
let audio = null;

function playTone(kind) {
  const notes = TONES[kind];
  if (!notes || typeof AudioContext === "undefined") return;
  try {
    audio = audio ?? new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const start = audio.currentTime + 0.01;
    for (const note of notes) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = note.hz;
      gain.gain.setValueAtTime(0.2, start + note.at);
      gain.gain.exponentialRampToValueAtTime(0.001, start + note.at + note.for);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start + note.at);
      oscillator.stop(start + note.at + note.for);
    }
  } catch (error) {
    // No audio device: the screen still says everything the tone does.
  }
}
