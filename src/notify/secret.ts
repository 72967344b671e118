// Subscription signing secrets: made once, shown once, stored only encrypted.
// The key is derived (HKDF-SHA-256) from the WEBHOOK_SIGNING_KEY Worker
// secret, so a D1 dump alone does not give a secret away; the subscription id
// is bound in as additional data, so a ciphertext copied onto another row
// does not decrypt there.

const SECRET_PREFIX = "whsec_";
const SECRET_BYTES = 32;
const IV_BYTES = 12;
const FORMAT = "v1";

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A new Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

const keys = new Map<string, Promise<CryptoKey>>();

/** The AES-GCM key for a WEBHOOK_SIGNING_KEY value, derived once per isolate. */
function keyFor(material: string): Promise<CryptoKey> {
  let key = keys.get(material);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(material), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("procedure-edge webhook secrets v1") },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(material, key);
  }
  return key;
}

/** `v1.<iv>.<ciphertext>`, both base64. */
export async function encryptSecret(material: string, subscriptionId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(subscriptionId) },
    await keyFor(material),
    new TextEncoder().encode(secret),
  );
  return `${FORMAT}.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function decryptSecret(material: string, subscriptionId: string, stored: string): Promise<string> {
  const [format, iv, sealed] = stored.split(".");
  if (format !== FORMAT || !iv || !sealed) throw new Error("unknown secret format");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv), additionalData: new TextEncoder().encode(subscriptionId) },
    await keyFor(material),
    fromBase64(sealed),
  );
  return new TextDecoder().decode(plain);
}
