/** Parameter injection and output hygiene of the notebook file. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { injectParameters, hygieneProblems, silentCells, type Notebook } from "../../lib/host/nbfile";

test("parameters are injected after the parameters cell (papermill's convention); secrets are refused", () => {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      { cell_type: "markdown", metadata: {}, source: "# t" },
      {
        cell_type: "code",
        metadata: { tags: ["parameters"] },
        source: 'let MODE = "sandbox";',
        outputs: [],
        execution_count: null,
      },
      { cell_type: "code", metadata: {}, source: "go()", outputs: [], execution_count: null },
    ],
  };
  const out = injectParameters(nb, { MODE: "staging", REFUND: true, MAX_PRICE: 5 });
  assert.equal(out.cells[2].metadata.tags?.[0], "injected-parameters");
  // Ends on `void 0;`: tslab prints a cell's last expression, and an assignment's value is stray output.
  assert.equal(
    out.cells[2].source,
    '// Injected parameters\nMODE = "staging";\nREFUND = true;\nMAX_PRICE = 5;\nvoid 0;',
  );
  assert.equal(injectParameters(out, { MODE: "live" }).cells.length, 4, "re-injection replaces, never stacks");
  assert.throws(
    () => injectParameters(nb, { OPERATOR_PASSWORD: "x" }),
    /OPERATOR_PASSWORD is a secret: pass it in the environment/,
  );
  assert.deepEqual(hygieneProblems(nb), []);
  nb.cells[2].outputs = [{ output_type: "stream", text: "x" }];
  nb.cells[2].execution_count = 3;
  assert.deepEqual(hygieneProblems(nb), ["cell 2 has 1 output(s)", "cell 2 has an execution count"]);
});

test("silentCells names the code cells the kernel skipped (no output), not the parameter cells", () => {
  const cell = (id: string, source: string, outputs: unknown[], tags?: string[]) => ({
    cell_type: "code" as const,
    id,
    metadata: tags ? { tags } : {},
    source,
    outputs,
    execution_count: null,
  });
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      cell("params", "let X = 1;", [], ["parameters"]),
      cell("injected", "X = 2;\nvoid 0;", [], ["injected-parameters"]),
      cell("ran", 'await nb.run("login");', [{ output_type: "display_data", data: {}, metadata: {} }]),
      cell("skipped", 'await nb.run("product");', []),
      cell("comment", "// only a comment", []),
      { cell_type: "markdown" as const, id: "md", metadata: {}, source: "## 2." },
    ],
  } as unknown as Notebook;
  assert.deepEqual(silentCells(nb), ["skipped"]);
});
