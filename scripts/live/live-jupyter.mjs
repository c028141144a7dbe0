// live-jupyter.mjs — run notebooks through a live Jupyter notebook server, as a person would.
//
//   node scripts/live/live-jupyter.mjs URL OUT_DIR NOTEBOOK...
//
// URL is a running `jupyter notebook` server (with its token, e.g.
// http://127.0.0.1:8899/?token=T) whose root holds the NOTEBOOKs (paths relative to that root).
// Debian's /usr/bin/chromium is driven through Playwright (playwright-core, no browser
// download), headless, with a fresh profile. For each notebook it
//   - opens the notebook page, waits for the GoNB kernel to be idle, and runs every cell with
//     the UI's "Cell > Run All";
//   - waits until every code cell has finished (its prompt shows a number, none shows "*");
//   - fails when any cell shows an error output, or a stderr output with the "exit status N" or
//     "panic:" that GoNB prints for a cell whose program failed (it replies "ok" to those);
//   - fails when the page shows fewer figures (<img> in an output area, decoded by the browser to
//     at least 300 x 150 pixels) than the notebook's figures (MIN_FIGURES_<name>, else 1);
//   - saves a screenshot (1400 x 4000, from the top) as OUT_DIR/live_NN_name.png.
// Then, in the last notebook, it measures the round trip of interactive work: it inserts a new
// cell, types a one-line program, presses Shift+Enter and times until its output appears on
// the page, ROUNDTRIPS times (default 3). With LIVE_INTERACTIVE_NB and LIVE_D20 set
// (live-jupyter.sh), it then times an edited d20 cell through the warm server: a prompt change
// and a title-only change (d20_prompt_change_s, d20_title_change_s: medians of 3). The results
// go to stdout and OUT_DIR/live.json.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [url, outDir, ...notebooks] = process.argv.slice(2);
if (!url || !outDir || notebooks.length === 0) {
  console.error("usage: node live-jupyter.mjs URL OUT_DIR NOTEBOOK...");
  process.exit(2);
}
const CELL_TIMEOUT_MS = Number(process.env.LIVE_TIMEOUT_S || 600) * 1000;
const ROUNDTRIPS = Number(process.env.ROUNDTRIPS || 3);
const base = new URL(url);
const token = base.searchParams.get("token") || "";

fs.mkdirSync(outDir, { recursive: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "nanoscope-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const since = (t0) => ((performance.now() - t0) / 1000).toFixed(1);
const result = { notebooks: [], roundtrip_s: [] };
let failed = false;
const fail = (msg) => { console.error("live-jupyter: FAIL " + msg); failed = true; };

try {
  let page;
  for (const nb of notebooks) {
    const name = path.basename(nb, ".ipynb");
    const t0 = performance.now();
    page = await context.newPage();
    page.on("dialog", (d) => d.dismiss());
    const nbURL = new URL("notebooks/" + nb.split("/").map(encodeURIComponent).join("/"), base);
    if (token) nbURL.searchParams.set("token", token);
    await page.goto(nbURL.href);
    // The classic notebook UI: wait for the kernel to start and be idle.
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected() && document.body.dataset.kernelStatus !== "busy" &&
      !document.querySelector("#kernel_indicator_icon.kernel_busy_icon"), null, { timeout: 120000 });
    const nCode = await page.locator(".cell.code_cell").count();
    // Cell > Run All, through the menus as a person would.
    await page.click("#celllink");
    await page.click("#run_all_cells > a");
    // A cell is done when its prompt shows a number; "Run All" queues every cell at once ("*").
    await page.waitForFunction((n) => {
      const prompts = [...document.querySelectorAll(".cell.code_cell .input_prompt")].map((p) => p.textContent);
      return prompts.length === n && prompts.every((p) => /\[\d+\]/.test(p));
    }, nCode, { timeout: CELL_TIMEOUT_MS, polling: 500 });
    const report = await page.evaluate(() => {
      const cells = [...document.querySelectorAll(".cell.code_cell")];
      const bad = [];
      cells.forEach((c, i) => {
        const err = c.querySelector(".output_error");
        const stderr = [...c.querySelectorAll(".output_stderr")].map((e) => e.textContent).join("\n");
        if (err || /^(exit status \d+|signal: [a-z ]+|panic: )/m.test(stderr)) {
          bad.push({ cell: i + 1, text: (err ? err.textContent : stderr).slice(0, 1500) });
        }
      });
      const figures = [...document.querySelectorAll(".output_area img")]
        .filter((img) => img.complete && img.naturalWidth >= 300 && img.naturalHeight >= 150).length;
      return { cells: cells.length, bad, figures };
    });
    const want = Number(process.env["MIN_FIGURES_" + name] || 1);
    // The classic UI scrolls the notebook inside #notebook, so a tall viewport shows more of it.
    const shot = path.join(outDir, "live_" + name + ".png");
    await page.setViewportSize({ width: 1400, height: 4000 });
    await page.evaluate(() => ["#site", "#notebook"].forEach((sel) => document.querySelector(sel)?.scrollTo(0, 0)));
    await page.screenshot({ path: shot });
    await page.setViewportSize({ width: 1400, height: 1000 });
    const secs = since(t0);
    console.log(`live-jupyter: ${name}: ${report.cells} code cells run through the UI in ${secs} s, ` +
      `${report.bad.length} failed, ${report.figures} figures on the page (want >= ${want}); screenshot ${shot}`);
    for (const b of report.bad) fail(`${name}: cell ${b.cell} failed:\n${b.text}`);
    if (report.figures < want) fail(`${name}: ${report.figures} figures on the page, want at least ${want}`);
    result.notebooks.push({ name, seconds: Number(secs), cells: report.cells, failed: report.bad.length, figures: report.figures });
    if (nb !== notebooks[notebooks.length - 1]) {
      await page.close();
    }
  }

  // Round trip of one small cell: edit, Shift+Enter, output on the page.
  for (let i = 1; i <= ROUNDTRIPS; i++) {
    const marker = `round trip ${i}: ${Date.now()}`;
    await page.evaluate(() => {
      const nb = Jupyter.notebook;
      nb.select(nb.ncells() - 1);
      nb.command_mode();
      nb.insert_cell_below("code");
      nb.select_next();
      nb.edit_mode();
    });
    await page.keyboard.type(`%%\nfmt.Println("${marker}")`);
    const t0 = performance.now();
    await page.keyboard.press("Shift+Enter");
    await page.waitForFunction((m) => [...document.querySelectorAll(".output_area pre")]
      .some((p) => p.textContent.includes(m)), marker, { timeout: 60000, polling: "raf" });
    const s = (performance.now() - t0) / 1000;
    result.roundtrip_s.push(Number(s.toFixed(3)));
  }
  if (ROUNDTRIPS > 0) {
    const sorted = [...result.roundtrip_s].sort((a, b) => a - b);
    console.log(`live-jupyter: round trip of a one-line cell (Shift+Enter to its output on the page): ` +
      `${result.roundtrip_s.map((s) => s.toFixed(2)).join(" s, ")} s (median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} s)`);
  }
  // The interactive d20 figures (issue 25): in a notebook holding only the README's first cell
  // and `import "nanoscope/warm"`, one cell asks the warm server for the top-5, the logit lens
  // and its plot of a prompt; it is edited in the UI (its text set, then Shift+Enter) with a new
  // prompt, then with only a new plot title, and timed until its last line is on the page. The
  // first run (which builds and starts the server and reads the checkpoint) is not timed.
  if (process.env.LIVE_INTERACTIVE_NB && process.env.LIVE_D20) {
    const nb = process.env.LIVE_INTERACTIVE_NB;
    await page.close();
    page = await context.newPage();
    page.on("dialog", (d) => d.dismiss());
    const nbURL = new URL("notebooks/" + encodeURIComponent(nb), base);
    if (token) nbURL.searchParams.set("token", token);
    await page.goto(nbURL.href);
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected() && !document.querySelector("#kernel_indicator_icon.kernel_busy_icon"), null, { timeout: 120000 });
    await page.click("#celllink");
    await page.click("#run_all_cells > a");
    await page.waitForFunction(() => [...document.querySelectorAll(".cell.code_cell .input_prompt")].every((p) => /\[\d+\]/.test(p.textContent)),
      null, { timeout: CELL_TIMEOUT_MS, polling: 500 });
    const d20 = process.env.LIVE_D20;
    const cell = (prompt, title, marker) => `%%
p := warm.Prompt{Checkpoint: ${JSON.stringify(d20)}, Text: ${JSON.stringify(prompt)}}
warm.ShowTopK(warm.Must(warm.TopKOf(p, 5)))
l := warm.Must(warm.LensOf(p))
fmt.Printf("lens: %d of %d cells on top\\n", l.OnTop, l.Cells)
if err := warm.Save(warm.Must(warm.LensPlotOf(p, "live_d20_lens", ${JSON.stringify(title)}))); err != nil {
\tpanic(err)
}
fmt.Println(${JSON.stringify(marker)})`;
    await page.evaluate(() => {
      const n = Jupyter.notebook;
      n.select(n.ncells() - 1);
      n.insert_cell_below("code");
      n.select_next();
    });
    const edit = async (prompt, title, timeoutMs) => {
      const marker = `done ${Date.now()} ${Math.random()}`;
      await page.evaluate((text) => {
        const n = Jupyter.notebook;
        n.select(n.ncells() - 1);
        n.get_selected_cell().set_text(text);
        n.edit_mode();
      }, cell(prompt, title, marker));
      const t0 = performance.now();
      await page.keyboard.press("Shift+Enter");
      await page.waitForFunction((m) => [...document.querySelectorAll(".output_area pre")].some((p) => p.textContent.includes(m)) ||
        [...document.querySelectorAll(".output_error, .output_stderr")].some((e) => /panic:|exit status/.test(e.textContent)),
        marker, { timeout: timeoutMs, polling: "raf" });
      const bad = await page.evaluate(() => [...document.querySelectorAll(".output_error, .output_stderr")].map((e) => e.textContent).join("\n"));
      if (/panic:|exit status/.test(bad)) throw new Error("the interactive d20 cell failed:\n" + bad.slice(0, 1500));
      return Number(((performance.now() - t0) / 1000).toFixed(3));
    };
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    await edit("fn main() { let x = 0; }", "d20 logit lens", CELL_TIMEOUT_MS);
    result.d20_prompt_change_runs_s = [];
    result.d20_title_change_runs_s = [];
    for (let i = 1; i <= 3; i++) result.d20_prompt_change_runs_s.push(await edit(`fn main() { let x = ${i}; }`, "d20 logit lens", 120000));
    for (let i = 1; i <= 3; i++) result.d20_title_change_runs_s.push(await edit("fn main() { let x = 3; }", `d20 logit lens, take ${i}`, 120000));
    result.d20_prompt_change_s = median(result.d20_prompt_change_runs_s);
    result.d20_title_change_s = median(result.d20_title_change_runs_s);
    console.log(`live-jupyter: d20 through the warm server, an edited cell (Shift+Enter to its last line on the page): ` +
      `prompt change ${result.d20_prompt_change_runs_s.join(" s, ")} s (median ${result.d20_prompt_change_s} s), ` +
      `title change ${result.d20_title_change_runs_s.join(" s, ")} s (median ${result.d20_title_change_s} s)`);
  }
} catch (e) {
  fail(String(e && e.stack || e));
  try {
    const pages = context.pages();
    if (pages.length) await pages[pages.length - 1].screenshot({ path: path.join(outDir, "live_failure.png"), fullPage: true });
  } catch { /* the screenshot is a courtesy */ }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.writeFileSync(path.join(outDir, "live.json"), JSON.stringify(result, null, 1) + "\n");
}
process.exit(failed ? 1 : 0);
