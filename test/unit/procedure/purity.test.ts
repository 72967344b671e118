import { describe, expect, it } from "vitest";

// The folder is the boundary: every module directly in src/procedure/ is the
// pure core, and src/procedure/object/ is the Durable Object's shell. This
// project runs in plain Node, so loading each core module here fails on a
// Workers import (cloudflare:*) whether or not a test exercises the module.
// Vite's glob import lists the folder as it is, so a new core file is
// checked without being named. Nor may a core module import the shell: a
// type the core judges (an activity entry) is defined in the core.
const load = import.meta.glob("../../../src/procedure/*.ts") as Record<string, () => Promise<unknown>>;
const sources = import.meta.glob("../../../src/procedure/*.ts", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

describe("the procedure's pure core", () => {
  it("lists the core modules", () => {
    const names = Object.keys(load).map((path) => path.split("/").pop());
    expect(names).toEqual(expect.arrayContaining(["decide.ts", "state.ts", "events.ts", "activity.ts", "view.ts", "refusal.ts"]));
    expect(names).not.toContain("object.ts");
  });

  it.each(Object.entries(sources))("%s imports nothing from the object's shell", (_path, source) => {
    expect(source).not.toMatch(/from "\.\/object\//);
  });

  it.each(Object.entries(load))("%s loads in plain Node", async (_path, importModule) => {
    await expect(importModule()).resolves.toBeTypeOf("object");
  });
});
