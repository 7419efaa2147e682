/**
 * The rfc3987_syntax stand-in (jupyter/rfc3987_syntax/) that jupyterEnv puts first on every Jupyter
 * process's Python path: jsonschema imports the package at its own import, and the installed one
 * builds its RFC 3987 parser there (about 0.5 s of CPU per nbconvert export and JupyterLab start).
 * The stand-in must defer that to the first use and change nothing about what validates: the same
 * answers as the installed package alone, and the installed module in sys.modules once used.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { jupyterEnv, venvBin } from "../../lib/host/jupyter";

const PYTHON = venvBin("python");
const skip = fs.existsSync(PYTHON) ? false : ".venv/bin/python is missing (scripts/setup.sh)";

const PROBE = `
import json, sys
import jsonschema
parsed_at_import = "lark" in sys.modules
checker = jsonschema.FormatChecker()
corpus = ["http://example.com/a?b=c#d", "https://b\\u00fccher.example/stra\\u00dfe", "not an iri", "http://[::1]:80/",
          "mailto:a@b.c", "", "http://exa mple.com", "//no-scheme", "http://example.com/%zz"]
print(json.dumps({
    "parsed_at_import": parsed_at_import,
    "iri_format": "iri" in checker.checkers and "iri-reference" in checker.checkers,
    "answers": [checker.conforms(s, "iri") for s in corpus] + [checker.conforms(s, "iri-reference") for s in corpus],
    "module": sys.modules["rfc3987_syntax"].__file__,
}))
`;

function probe(env: NodeJS.ProcessEnv) {
  const r = spawnSync(PYTHON, ["-c", PROBE], { env, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { parsed_at_import: boolean; iri_format: boolean; answers: boolean[]; module: string };
}

test("jupyterEnv's rfc3987_syntax stand-in defers the parser to first use and validates IRIs exactly as the installed package", {
  skip,
}, () => {
  const { PYTHONPATH: _, ...plain } = process.env;
  const installed = probe(plain);
  const standIn = probe(jupyterEnv());
  assert.equal(
    installed.parsed_at_import,
    true,
    "the installed package builds its parser at import (what the stand-in saves)",
  );
  assert.equal(standIn.parsed_at_import, false, "with the stand-in, importing jsonschema builds no parser");
  assert.ok(standIn.iri_format, "jsonschema still registers its iri formats");
  assert.deepEqual(standIn.answers, installed.answers, "the same answers as the installed package");
  assert.ok(standIn.answers.includes(true) && standIn.answers.includes(false), "the corpus has valid and invalid IRIs");
  assert.equal(standIn.module, installed.module, "once used, sys.modules names the installed package");
});
