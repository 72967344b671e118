// Which URLs a webhook may be delivered to, pure. Deliveries are requests the
// service makes on a subscriber's behalf, so a URL must not turn them against
// what sits beside the service: private and loopback networks, link-local
// addresses and the cloud metadata endpoints, or the service itself. Hosts are
// judged as written: a numeric spelling of an address (2130706433, 0x7f000001,
// 127.1), which the URL parser quietly turns into a dotted quad, is refused
// outright, so what a reviewer reads is the address that would be reached.

/** This machine's documented names: a receiver under development may use them over http or https (and the console reads them as a local service). */
export const LOCAL_DEVELOPMENT_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Names that reach a cloud's metadata service or this machine whatever they resolve to elsewhere. */
const BLOCKED_NAMES = [/^metadata$/, /^metadata\.google\.internal$/, /^metadata\.goog$/, /^instance-data(\.ec2\.internal)?$/, /\.localhost$/, /\.internal$/];

/** IPv4 ranges no delivery may reach: [first address, prefix length, what it is]. */
const BLOCKED_V4: ReadonlyArray<[string, number]> = [
  ["0.0.0.0", 8], // this network
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // shared address space (carrier-grade NAT)
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, including the metadata address 169.254.169.254
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // protocol assignments
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and the broadcast address
];

function v4Number(address: string): number | null {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function blockedV4(address: string): boolean {
  const n = v4Number(address);
  if (n === null) return false;
  return BLOCKED_V4.some(([first, prefix]) => Math.floor(n / 2 ** (32 - prefix)) === Math.floor(v4Number(first)! / 2 ** (32 - prefix)));
}

/** The eight 16-bit groups of an IPv6 address as the URL parser writes it (compressed, lowercase, no zone). */
function v6Groups(address: string): number[] | null {
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const n = v4Number(tail[1]!);
    if (n === null) return null;
    text = `${text.slice(0, -tail[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const split = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const left = split(head);
  const right = rest === undefined ? [] : split(rest);
  const groups = rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

function blockedV6(address: string): boolean {
  const g = v6Groups(address);
  if (g === null) return true;
  const [a, b] = g as [number, number];
  if (g.every((x) => x === 0)) return true; // unspecified
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true; // loopback
  if ((a & 0xfe00) === 0xfc00) return true; // unique local, including fd00:ec2::254 (a metadata address)
  if ((a & 0xffc0) === 0xfe80) return true; // link-local
  if ((a & 0xff00) === 0xff00) return true; // multicast
  // IPv4 inside IPv6 (mapped ::ffff:0:0/96, translated 64:ff9b::/96): judged as that IPv4 address.
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  const translated = a === 0x64 && b === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (mapped || translated) return blockedV4(`${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`);
  return false;
}

/** The host exactly as the URL text writes it, lowercased (before the parser normalizes numbers). */
function writtenHost(raw: string): string | null {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(raw);
  return match ? match[1]!.toLowerCase() : null;
}

/** A URL's port, the scheme's default when it names none. */
function portOf(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

/**
 * Why `raw` may not be a webhook URL, or null when it may. `self` are the
 * URLs the service is reached at (as requests reach it, and its public
 * console's), so a subscription cannot make the service post to itself: by
 * host name, or, on this machine (localhost, 127.0.0.1, [::1]), by port, so a
 * receiver under development beside a local service is still accepted.
 */
export function webhookUrlProblem(raw: string, self: readonly URL[]): string | null {
  if (raw !== raw.trim()) return "url must not begin or end with whitespace";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "url is not a URL";
  }
  if (url.username !== "" || url.password !== "") return "url must not carry credentials";
  const host = url.hostname;
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOCAL_DEVELOPMENT_HOSTS.has(host))) {
    return "url must be https://, or http:// to localhost, 127.0.0.1 or [::1] for a receiver under development";
  }
  if (writtenHost(raw) !== host) return `url's host must be written as ${host} (a numeric or otherwise encoded host is refused)`;
  // A trailing dot names the same host (localhost. is localhost) but would pass every comparison by name.
  if (host.endsWith(".")) return "url's host must not end with a dot";
  if (LOCAL_DEVELOPMENT_HOSTS.has(host)) {
    const local = self.filter((own) => LOCAL_DEVELOPMENT_HOSTS.has(own.hostname));
    return local.some((own) => portOf(own) === portOf(url)) ? "url must not point at this service" : null;
  }
  if (self.some((own) => own.hostname === host)) return "url must not point at this service";
  if (host.startsWith("[") ? blockedV6(host.slice(1, -1)) : blockedV4(host)) {
    return "url must not point at a private, loopback, link-local, reserved or metadata address";
  }
  if (v4Number(host) === null && !host.startsWith("[") && (BLOCKED_NAMES.some((name) => name.test(host)) || !host.includes("."))) {
    return "url must name a public host (not a single label, a metadata service or an internal name)";
  }
  return null;
}
