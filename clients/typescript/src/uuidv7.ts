// UUIDv7 (RFC 9562) event ids, strictly increasing per generator: within a
// millisecond a 12-bit counter in rand_a keeps the order the entries were made
// in, so sorting a gateway's ids sorts its entries.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A generator of strictly increasing UUIDv7s; `now` gives Unix milliseconds. */
export function uuidv7Generator(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  return () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    let ms = Math.floor(now());
    if (ms > lastMs) {
      // Start low in the counter's range so a burst within one millisecond has room to count up.
      counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!;
    } else {
      ms = lastMs;
      counter += 1;
      if (counter > 0xfff) {
        ms += 1;
        counter = 0;
      }
    }
    lastMs = ms;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    let out = "";
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
      out += HEX[bytes[i]!];
    }
    return out;
  };
}
