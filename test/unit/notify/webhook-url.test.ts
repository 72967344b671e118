// The webhook URL rule: hosts that would turn deliveries against the service's
// own network, or the service itself, are refused however they are written.
import { describe, expect, it } from "vitest";
import { webhookUrlProblem } from "../../../src/notify/webhook-url";

// The service as deployed, and as served locally on port 8787.
const SELF = [new URL("https://edge.example.org/"), new URL("http://localhost:8787/")];

describe("webhook URLs", () => {
  it.each([
    "https://hooks.example.org/a",
    "https://hooks.example.org:8443/a?x=1",
    "https://93.184.216.34/hook",
    "https://[2606:4700::1111]/hook",
    "http://localhost:9999/in",
    "http://127.0.0.1/in",
    "http://[::1]:8080/in",
    "https://localhost/in",
    "http://localhost:8000/",
  ])("accepts %s", (url) => {
    expect(webhookUrlProblem(url, SELF)).toBeNull();
  });

  it.each([
    // private, loopback (other than the local development forms), link-local, metadata: over https too
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://127.0.0.2/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://255.255.255.255/",
    "https://[fe80::1]/",
    "https://[fd00:ec2::254]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[::]/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/",
    "https://intranet/",
    "https://printer.localhost/",
    // numeric host encodings, which the URL parser turns into 127.0.0.1 or a public address
    "https://2130706433/",
    "https://0x7f000001/",
    "https://127.1/",
    "https://0177.0.0.1/",
    "http://2130706433/",
    "https://1572395042/",
    // a trailing dot, which names the same host as without it
    "https://edge.example.org./",
    "https://metadata.google.internal./",
    "https://printer.localhost./",
    "https://localhost./",
    "http://localhost.:8000/",
    // the service itself
    "https://edge.example.org/v1/procedures",
    "https://EDGE.example.org/",
    "http://localhost:8787/v1/procedures",
    "http://127.0.0.1:8787/",
    "http://[::1]:8787/",
    // surrounding whitespace, credentials, other schemes
    " https://hooks.example.org/a",
    "https://hooks.example.org/a\n",
    "https://user:pw@hooks.example.org/",
    "http://hooks.example.org/a",
    "ftp://localhost/a",
    "not a url",
  ])("refuses %j", (url) => {
    expect(webhookUrlProblem(url, SELF)).toEqual(expect.any(String));
  });
});
