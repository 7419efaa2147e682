import { describe, it, before, after } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { Resvg } from "@resvg/resvg-js";
import { renderComparisonPlot, renderPollPlot, svgToPng, type ComparisonRow, type Rendered } from "../../lib/plot";
import { COMPARISON, pollSamples, sample } from "./fixtures";
import { assertSnapshot, sanitizeSvg } from "./snapshot";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BUNDLED_FONT = path.join(__dirname, "..", "..", "assets", "fonts", "DejaVuSans-subset.ttf");

/** Width and height from the IHDR chunk, which always comes first. */
function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Decodes a PNG by letting resvg draw it as an image, then counts the non-white pixels. */
function inkPixels(png: Buffer): number {
  const { width, height } = pngSize(png);
  const wrapper = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}"><image width="${width}" height="${height}" xlink:href="data:image/png;base64,${png.toString("base64")}"/></svg>`;
  const px = new Resvg(wrapper, { background: "white", font: { loadSystemFonts: false }, logLevel: "off" }).render()
    .pixels;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200) ink++;
  return ink;
}

const withoutText = (svg: string) => svg.replace(/<text\b[^>]*>[^<]*<\/text>/g, "");
const count = (svg: string, text: string) => svg.split(`>${text}<`).length - 1;

// Plot reports problems (e.g. a channel of NaN) through console.warn: none is expected.
const warnings: unknown[][] = [];
const originalWarn = console.warn;
before(() => {
  console.warn = (...args: unknown[]) => void warnings.push(args);
});
after(() => {
  console.warn = originalWarn;
  assert.deepEqual(warnings, [], "Plot warned during the plot tests");
});

describe("renderPollPlot snapshots", () => {
  const rows: Array<[string, () => Rendered]> = [
    ["poll-typical", () => renderPollPlot(pollSamples({ perStep: 30, every5xx: 7 }))],
    [
      "poll-timeouts-log-scale",
      () => renderPollPlot(pollSamples({ perStep: 40, every5xx: 9, everyNetworkError: 13, timeoutMs: 5000, seed: 3 })),
    ],
    ["poll-step5-only", () => renderPollPlot(pollSamples({ perStep: 12 }).filter((s) => s.step === 5))],
    ["poll-single-sample", () => renderPollPlot([sample({ t: 0.04, latencyMs: 61 })])],
    ["poll-empty", () => renderPollPlot([])],
    [
      "poll-close-changes",
      () =>
        renderPollPlot(
          ["pending", "processing", "completed", "completed"]
            .map((orderStatus, i) => sample({ attempt: i + 1, t: i * 0.3, orderStatus }))
            .concat([
              sample({ step: 9, t: 0.2, orderStatus: "refund_pending" }),
              sample({ step: 9, attempt: 2, t: 9, orderStatus: "refunded" }),
            ]),
          { width: 480, height: 320, title: "Close status changes <&>" },
        ),
    ],
  ];
  for (const [name, render] of rows) it(name, () => assertSnapshot(name, render().svg));
});

describe("renderComparisonPlot snapshots", () => {
  const rows: Array<[string, () => Rendered]> = [
    ["comparison-two-sessions", () => renderComparisonPlot(COMPARISON)],
    ["comparison-empty", () => renderComparisonPlot([])],
    [
      "comparison-six-metrics",
      () =>
        renderComparisonPlot(
          [
            ...COMPARISON,
            { metric: "retries", session: "staging dry run", value: 14 },
            { metric: "retries", session: "live run", value: 2 },
            { metric: "p95 poll latency (ms)", session: "live run", value: 840 },
          ],
          { title: "Six metrics wrap onto two rows" },
        ),
    ],
  ];
  for (const [name, render] of rows) it(name, () => assertSnapshot(name, render().svg));
});

describe("renderPollPlot content", () => {
  it("labels each status change once, not the first status nor a return after a failed attempt", () => {
    const samples = [
      sample({ attempt: 1, t: 0, orderStatus: "pending" }),
      sample({ attempt: 2, t: 1, orderStatus: "pending" }),
      sample({ attempt: 3, t: 2, httpStatus: 503, orderStatus: null }),
      sample({ attempt: 4, t: 3, orderStatus: "pending" }),
      sample({ attempt: 5, t: 4, orderStatus: "processing" }),
      sample({ attempt: 6, t: 5, httpStatus: null, orderStatus: null, latencyMs: 5000 }),
      sample({ attempt: 7, t: 6, orderStatus: "processing" }),
      sample({ attempt: 8, t: 7, orderStatus: "completed" }),
      // Step 9 starts from the status step 5 ended with: its first sample is not a change.
      sample({ step: 9, attempt: 1, t: 0, orderStatus: "completed" }),
      sample({ step: 9, attempt: 2, t: 2, orderStatus: "refunded" }),
    ];
    const { svg } = renderPollPlot(samples);
    assert.equal(count(svg, "pending"), 0);
    assert.equal(count(svg, "processing"), 1);
    assert.equal(count(svg, "completed"), 1);
    assert.equal(count(svg, "refunded"), 1);
  });

  it("sorts samples by time: input order does not change the output", () => {
    const samples = pollSamples({ perStep: 20, every5xx: 4 });
    assert.equal(renderPollPlot([...samples].reverse()).svg, renderPollPlot(samples).svg);
  });

  it("draws only a step's latest run: an interrupted run's window would restart at t = 0 over it", () => {
    const earlier = [1, 2, 3].map((t) => sample({ t, step: 5, run: 1, httpStatus: 503, orderStatus: null }));
    const latest = [0, 1].map((t) => sample({ t, step: 5, run: 2 }));
    const svg = renderPollPlot([...earlier, ...latest]).svg;
    assert.equal(count(svg, "ok (2)"), 1);
    assert.equal(count(svg, "http 5xx (0)"), 1, "the earlier run is not drawn");
    assert.equal(svg, renderPollPlot(latest).svg);
  });

  const outcomes: Array<[string, Partial<Parameters<typeof sample>[0]>, string]> = [
    ["200 is ok", { httpStatus: 200 }, "ok (1)"],
    ["304 is ok", { httpStatus: 304 }, "ok (1)"],
    ["429 is http 4xx", { httpStatus: 429, orderStatus: null }, "http 4xx (1)"],
    ["500 is http 5xx", { httpStatus: 500, orderStatus: null }, "http 5xx (1)"],
    ["503 is http 5xx", { httpStatus: 503, orderStatus: null }, "http 5xx (1)"],
    ["null is a network error", { httpStatus: null, orderStatus: null, error: "ECONNRESET" }, "network error (1)"],
  ];
  for (const [name, fields, legend] of outcomes) {
    it(`outcome: ${name}`, () => assert.equal(count(renderPollPlot([sample({ t: 1, ...fields })]).svg, legend), 1));
  }

  it("switches to a log scale when a time-out dwarfs the other latencies", () => {
    assert.match(renderPollPlot(pollSamples({ perStep: 10, everyNetworkError: 5, timeoutMs: 10000 })).svg, /log scale/);
    assert.doesNotMatch(renderPollPlot(pollSamples({ perStep: 10 })).svg, /log scale/);
  });

  it("says so when there is nothing to plot", () => {
    const r = renderPollPlot([]);
    assert.equal(count(r.svg, "no poll samples"), 1);
    assert.equal(count(r.svg, "Poll latency — steps 5 and 9"), 2, "<title> and the visible title");
  });

  it("does not throw on odd but possible samples", () => {
    for (const s of [
      [sample({ t: 0, latencyMs: 0 })],
      [sample({ t: 0, latencyMs: 0 }), sample({ attempt: 2, t: 0, latencyMs: 0 })],
      [sample({ t: 3, latencyMs: 0, httpStatus: null, orderStatus: null })],
      [sample({ t: 1, latencyMs: 1e6 }), sample({ attempt: 2, t: 2, latencyMs: 1 })],
    ]) {
      const r = renderPollPlot(s);
      assert.ok(r.png.subarray(0, 8).equals(PNG_SIGNATURE));
    }
  });

  it("is deterministic", () => {
    const samples = pollSamples({ perStep: 25, every5xx: 6, everyNetworkError: 11 });
    assert.equal(renderPollPlot(samples).svg, renderPollPlot(samples).svg);
  });
});

describe("standalone SVG", () => {
  const rendered: Array<[string, Rendered]> = [
    ["poll", renderPollPlot(pollSamples({ perStep: 10 }))],
    ["poll empty", renderPollPlot([])],
    ["comparison", renderComparisonPlot(COMPARISON)],
  ];
  for (const [name, r] of rendered) {
    it(`${name}: one root <svg> with the SVG namespace and its size, no HTML`, () => {
      assert.match(
        r.svg,
        new RegExp(
          `^<svg xmlns="http://www.w3.org/2000/svg" width="${r.width}" height="${r.height}" viewBox="0 0 ${r.width} ${r.height}"`,
        ),
      );
      assert.ok(r.svg.endsWith("</svg>"));
      assert.doesNotMatch(r.svg, /<(figure|div|h2|span|style)\b/);
      assert.doesNotMatch(r.svg, /\bclass="plot-/, "no generated class names left");
      // resvg's XML parser is strict: a malformed document throws here.
      const tree = new Resvg(r.svg, { font: { loadSystemFonts: false }, logLevel: "off" });
      assert.deepEqual([tree.width, tree.height], [r.width, r.height]);
    });
  }

  it("escapes user text and drops what XML cannot hold", () => {
    const nasty = `a < b & "c" \u0001`;
    const renders = [
      renderPollPlot([], { title: nasty }),
      renderPollPlot([sample({ t: 0 }), sample({ attempt: 2, t: 1, orderStatus: nasty })]),
      renderComparisonPlot([{ metric: nasty, session: nasty, value: 1 }], { title: nasty }),
    ];
    for (const { svg } of renders) {
      assert.doesNotMatch(svg, /a < b|\u0001/);
      new Resvg(svg, { font: { loadSystemFonts: false }, logLevel: "off" }); // strict XML parser
    }
  });

  it("honours width, height and title", () => {
    const r = renderComparisonPlot(COMPARISON, { width: 500, height: 260, title: "Dry run only" });
    assert.deepEqual([r.width, r.height], [500, 260]);
    assert.equal(count(r.svg, "Dry run only"), 2);
  });

  const badOptions: Array<[string, object, RegExp]> = [
    ["zero width", { width: 0 }, /^invalid width: 0/],
    ["NaN width", { width: NaN }, /^invalid width: NaN/],
    ["tiny height", { height: 40 }, /^invalid height: 40/],
    ["infinite height", { height: Infinity }, /^invalid height: Infinity/],
  ];
  for (const [name, opts, message] of badOptions) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => renderPollPlot([], opts),
        (e: Error) => e instanceof RangeError && message.test(e.message),
      );
      assert.throws(
        () => renderComparisonPlot([], opts),
        (e: Error) => e instanceof RangeError && message.test(e.message),
      );
    });
  }
});

describe("renderComparisonPlot content", () => {
  it("writes n/a for a missing or non-finite value instead of a bar", () => {
    const rows: ComparisonRow[] = [
      { metric: "m", session: "a", value: null },
      { metric: "m", session: "b", value: NaN },
      { metric: "m", session: "c", value: 2 },
    ];
    const { svg } = renderComparisonPlot(rows);
    assert.equal(count(svg, "n/a"), 2);
    assert.equal(count(svg, "2"), 2, "the bar label and a tick");
  });

  it("keeps the last row of a repeated (metric, session)", () => {
    const { svg } = renderComparisonPlot([
      { metric: "m", session: "a", value: 11.5 },
      { metric: "m", session: "a", value: 7.25 },
    ]);
    assert.equal(count(svg, "7.25"), 1);
    assert.equal(count(svg, "11.5"), 0);
  });

  it("labels sessions in the legend, in order of first appearance", () => {
    const { svg } = renderComparisonPlot(COMPARISON);
    assert.ok(svg.indexOf(">staging dry run<") < svg.indexOf(">live run<"));
  });
});

describe("PNG", () => {
  it("is a PNG twice the SVG's size, and not blank", () => {
    const r = renderPollPlot(pollSamples({ perStep: 20, every5xx: 5 }));
    assert.ok(r.png.subarray(0, 8).equals(PNG_SIGNATURE));
    assert.deepEqual(pngSize(r.png), { width: 2 * r.width, height: 2 * r.height });
    assert.ok(inkPixels(r.png) > 20_000, "dots, axes and text are drawn");
  });

  it("shows text (a font was found)", () => {
    const { svg } = renderPollPlot([]);
    const withText = inkPixels(svgToPng(svg));
    const textless = inkPixels(svgToPng(withoutText(svg)));
    assert.ok(withText - textless > 2_000, `text adds ink: ${withText} vs ${textless} pixels`);
  });

  it("the bundled font alone renders text (machines without DejaVu Sans)", () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="10" y="28" font-family="system-ui, sans-serif" font-size="20">Poll → ok</text></svg>`;
    const ink = (fontFiles: string[]) => {
      const px = new Resvg(svg, {
        background: "white",
        font: { loadSystemFonts: false, fontFiles, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
        logLevel: "off",
      }).render().pixels;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] < 128) n++;
      return n;
    };
    assert.equal(ink([]), 0, "no font, no text: the check below means something");
    assert.ok(ink([BUNDLED_FONT]) > 200);
  });

  it("svgToPng fits a requested width", () => {
    const r = renderComparisonPlot(COMPARISON);
    assert.deepEqual(pngSize(svgToPng(r.svg, 360)), { width: 360, height: Math.round((360 * r.height) / r.width) });
    assert.throws(() => svgToPng(r.svg, 0), /^RangeError: invalid PNG width: 0$/);
  });

  it("is rendered once, on first read", () => {
    const r = renderPollPlot([]);
    assert.equal(r.png, r.png);
    assert.ok({ ...r }.png.subarray(0, 8).equals(PNG_SIGNATURE), "a spread copy carries the PNG");
  });
});

describe("performance", () => {
  // Timings are a diagnostic here (bench/ measures them); what is asserted is that 300 samples all render.
  it("renders 300 samples, every one drawn, as SVG and PNG", (t) => {
    const samples = pollSamples({ perStep: 150, every5xx: 17, everyNetworkError: 41 });
    renderPollPlot(samples).png; // warm-up: module loading, font database
    const svgMs: number[] = [];
    const pngMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = renderPollPlot(samples);
      const t1 = performance.now();
      assert.ok(r.png.subarray(0, 8).equals(PNG_SIGNATURE), "a PNG");
      svgMs.push(t1 - t0);
      pngMs.push(performance.now() - t1);
      // One symbol (a <path>) per sample, besides the axes, rules and legend.
      assert.ok(r.svg.split("<path").length - 1 >= samples.length, `fewer marks than the ${samples.length} samples`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1);
    t.diagnostic(`renderPollPlot, 300 samples: SVG ${median(svgMs)} ms, PNG (2x) ${median(pngMs)} ms (medians of 5)`);
  });
});

describe("sanitizeSvg", () => {
  const rows: Array<[string, string, string]> = [
    ["rounds decimals", `<path d="M0,334.99999999999994L1.005,2"/>`, `<path d="M0,335L1,2"/>\n`],
    ["keeps integers", `<text x="40">100</text>`, `<text x="40">100</text>\n`],
    [
      "renumbers Plot's class ids",
      `<svg class="plot-d6a7b5"><g class="plot-0a1b2c"/><g class="plot-d6a7b5"/></svg>`,
      `<svg class="plot-1">\n<g class="plot-2"/>\n<g class="plot-1"/>\n</svg>\n`,
    ],
    [
      "renumbers clip ids",
      `<clipPath id="plot-clip-17"/><g clip-path="url(#plot-clip-17)"/>`,
      `<clipPath id="plot-clip-1"/>\n<g clip-path="url(#plot-clip-1)"/>\n`,
    ],
  ];
  for (const [name, input, expected] of rows) it(name, () => assert.equal(sanitizeSvg(input), expected));
});
