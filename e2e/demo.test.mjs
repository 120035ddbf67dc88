// End-to-end test of the /demo page: a real relay, headless Chromium, two pages talking.
//
// Environment:
//   WSRELAY_BIN       relay binary (default: target/debug/wsrelay, else target/release/wsrelay)
//   E2E_SERVER_CMD    shell command to run instead of the relay; it must listen on $E2E_LISTEN
//   E2E_ROOMS=0       skip the check that two rooms do not hear each other (for relays without rooms)
//   E2E_SCREENSHOT    where to save the screenshot (default: docs/demo.png)
//   E2E_TLS_CERT, E2E_TLS_KEY, E2E_TLS_SPKI
//                     serve with --tls-cert/--tls-key and test over https:// and wss://; Chromium
//                     trusts the certificate whose SPKI SHA-256 (base64) is E2E_TLS_SPKI (`make e2e-tls`)
//   CHROMIUM          browser executable (default: /usr/bin/chromium)

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TEST_BUDGET_MS = 110_000;
const STEP_TIMEOUT_MS = 10_000;
// The page backs off for at most 10 s (plus a connect attempt), so recovery fits in this.
const RECOVERY_TIMEOUT_MS = 30_000;
const SERVER_READY_TIMEOUT_MS = 15_000;
const GREETING = "Hello, World!";
// Over TLS: the relay's flags, and the schemes the page and its WebSocket use.
const TLS_FLAGS = process.env.E2E_TLS_CERT
  ? ["--tls-cert", process.env.E2E_TLS_CERT, "--tls-key", process.env.E2E_TLS_KEY]
  : [];
const HTTP = TLS_FLAGS.length ? "https" : "http";
const WS = TLS_FLAGS.length ? "wss" : "ws";
const CHROMIUM_ARGS = [
  ...(TLS_FLAGS.length ? [`--ignore-certificate-errors-spki-list=${process.env.E2E_TLS_SPKI}`] : []),
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const liveServers = new Set();
// The latest server started, dead or alive, whose output a failure report shows.
let lastServer = null;
let userDataDir = "";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- server process -------------------------------------------------------------------------

function relayBinary() {
  if (process.env.WSRELAY_BIN) return process.env.WSRELAY_BIN;
  const candidates = ["debug", "release"].map((profile) => path.join(REPO_ROOT, "target", profile, "wsrelay"));
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) throw new Error(`no relay binary in ${candidates.join(" or ")}: run cargo build first`);
  return found;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function spawnServer(port) {
  const listen = `127.0.0.1:${port}`;
  const options = {
    cwd: REPO_ROOT,
    env: { ...process.env, E2E_LISTEN: listen, E2E_PORT: String(port) },
    // Its own process group, so that a shell wrapper and its children die together.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  };
  const command = process.env.E2E_SERVER_CMD;
  const child = command
    ? spawn("sh", ["-c", command], options)
    : spawn(relayBinary(), ["serve", "--listen", listen, ...TLS_FLAGS], options);
  const server = { child, output: [], exited: null };
  const keep = (chunk) => {
    server.output.push(...chunk.toString().split("\n").filter(Boolean));
    server.output.splice(0, Math.max(0, server.output.length - 60));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  server.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  server.exited.then(() => liveServers.delete(server));
  child.on("error", (err) => server.output.push(`spawn failed: ${err.message}`));
  liveServers.add(server);
  lastServer = server;
  return server;
}

function killServer(server) {
  try {
    process.kill(-server.child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
  return server.exited;
}

async function demoAnswers(baseUrl) {
  try {
    const response = await fetch(`${baseUrl}/demo`, { signal: AbortSignal.timeout(1000) });
    return response.status === 200 && (await response.text()).includes("wsrelay demo");
  } catch {
    return false;
  }
}

// Starts the server and waits until it serves /demo; a start that dies (say, the port still
// held by the previous run) is retried until the deadline.
async function startServer(port) {
  const baseUrl = `${HTTP}://127.0.0.1:${port}`;
  const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
  let server = spawnServer(port);
  let exitedEarly = false;
  let restarts = 0;
  server.exited.then(() => (exitedEarly = true));
  while (Date.now() < deadline) {
    if (await demoAnswers(baseUrl)) return server;
    if (exitedEarly) {
      if (restarts === 0) console.log(`     server exited at start (${server.output.at(-1) ?? "no output"}), retrying`);
      restarts += 1;
      await sleep(500);
      server = spawnServer(port);
      exitedEarly = false;
      server.exited.then(() => (exitedEarly = true));
    }
    await sleep(200);
  }
  throw new Error(`server did not serve ${baseUrl}/demo within ${SERVER_READY_TIMEOUT_MS} ms (${restarts} restarts)`);
}

function cleanUpNow() {
  for (const server of liveServers) {
    try {
      process.kill(-server.child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
}

// --- page helpers ---------------------------------------------------------------------------

// Poll on a timer: only the front page gets animation frames, which are Playwright's default.
const POLL_MS = 100;
const pageNames = new WeakMap();

// What a page shows, for failure messages.
async function describePage(page) {
  const seen = await page
    .evaluate(() => ({
      status: document.getElementById("status-text").textContent,
      latest: document.getElementById("latest").textContent,
      log: [...document.querySelectorAll("#log .entry")]
        .slice(-6)
        .map((entry) => `${entry.dataset.dir}: ${entry.querySelector(".message").textContent}`),
    }))
    .catch((err) => ({ error: err.message }));
  return `it shows ${JSON.stringify(seen)}`;
}

async function waitUntil(page, what, predicate, arg, timeout = STEP_TIMEOUT_MS) {
  try {
    await page.waitForFunction(predicate, arg, { polling: POLL_MS, timeout });
  } catch (err) {
    const name = pageNames.get(page) ?? "page";
    throw new Error(`${name}: no ${what} within ${timeout} ms; ${await describePage(page)}`, { cause: err });
  }
}

function waitForState(page, state, timeout = STEP_TIMEOUT_MS) {
  const predicate = (want) => document.getElementById("status").dataset.state === want;
  return waitUntil(page, `state ${state}`, predicate, state, timeout);
}

function waitForLatest(page, text) {
  const predicate = (want) => document.getElementById("latest").textContent === want;
  return waitUntil(page, `latest "HELLO ${text}"`, predicate, `HELLO ${text}`);
}

function entries(page, dir) {
  return page.$$eval(`#log .entry[data-dir="${dir}"] .message`, (nodes) => nodes.map((node) => node.textContent));
}

async function count(page, dir, text) {
  return (await entries(page, dir)).filter((entry) => entry === text).length;
}

// Waits until the log holds at least `atLeast` entries of `text` in direction `dir`.
function waitForEntry(page, dir, text, atLeast = 1) {
  const predicate = ([want, direction, minimum]) =>
    [...document.querySelectorAll(`#log .entry[data-dir="${direction}"] .message`)].filter(
      (node) => node.textContent === want,
    ).length >= minimum;
  return waitUntil(page, `${atLeast} "${dir}" log entries "${text}"`, predicate, [text, dir, atLeast]);
}

// Brings the page to the front first: Playwright's actions wait for animation frames, which only
// the front page gets.
async function front(page) {
  await page.bringToFront();
  return page;
}

async function sendFrom(page, text, { withButton = false } = {}) {
  await front(page);
  await page.fill("#message", text);
  if (withButton) await page.click("#send");
  else await page.press("#message", "Enter");
}

// The relay's count of compressed messages, from /metrics (0 for another server).
async function deflateCompressions(baseUrl) {
  if (process.env.E2E_SERVER_CMD) return 0;
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("wsrelay_deflate_compressions_total "));
  return Number(line?.split(" ")[1] ?? NaN);
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function step(name, body) {
  const started = Date.now();
  await body();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// --- the test -------------------------------------------------------------------------------

async function run() {
  const port = await freePort();
  const baseUrl = `${HTTP}://127.0.0.1:${port}`;
  let server = await startServer(port);
  console.log(`server: ${process.env.E2E_SERVER_CMD ? process.env.E2E_SERVER_CMD : relayBinary()} on ${baseUrl}`);

  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "wsrelay-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1024, height: 768 },
    deviceScaleFactor: 2,
    timeout: 30_000,
  });
  const pageErrors = [];
  context.on("page", (page) => page.on("pageerror", (err) => pageErrors.push(err.message)));
  try {
    const pageA = await context.newPage();
    const pageB = await context.newPage();
    pageNames.set(pageA, "page A");
    pageNames.set(pageB, "page B");
    await pageB.setViewportSize({ width: 390, height: 844 });

    await step("page A opens, says Hello Server and sees the greeting", async () => {
      await pageA.goto(`${baseUrl}/demo`);
      await waitForState(pageA, "open");
      await waitForLatest(pageA, GREETING);
      await waitForEntry(pageA, "out", "Hello Server");
      const endpoint = await pageA.locator("#endpoint").textContent();
      check(endpoint === `${WS}://127.0.0.1:${port}/`, `endpoint is the relay's default room, got ${endpoint}`);
      check((await pageA.locator("#room").inputValue()) === "/", "room field shows the default room");
    });

    await step("page B opens: A hears B's Hello Server", async () => {
      await pageB.goto(`${baseUrl}/demo`);
      await waitForState(pageB, "open");
      await waitForEntry(pageB, "in", GREETING);
      await waitForEntry(pageA, "in", "Hello Server");
    });

    await step("A disconnects (closed) and connects again: B hears A's Hello Server", async () => {
      await (await front(pageA)).click("#toggle");
      await waitForState(pageA, "closed");
      check((await pageA.locator("#status-text").textContent()) === "closed", "status says closed");
      check(await pageA.locator("#send").isDisabled(), "send is disabled while closed");
      await pageA.click("#toggle");
      await waitForState(pageA, "open");
      await waitForEntry(pageA, "in", GREETING, 2);
      await waitForEntry(pageB, "in", "Hello Server");
    });

    const fromA = "hi from page A";
    const fromB = "hello from page B";
    await step("a message typed in A (Enter) appears in B, and one in B (button) in A", async () => {
      await sendFrom(pageA, fromA);
      await waitForEntry(pageB, "in", fromA);
      await waitForLatest(pageB, fromA);
      check((await pageA.locator("#message").inputValue()) === "", "the input is cleared after sending");
      check((await count(pageA, "out", fromA)) === 1, "A logs its message as sent");
      await sendFrom(pageB, fromB, { withButton: true });
      await waitForEntry(pageA, "in", fromB);
      await waitForLatest(pageA, fromB);
      check((await count(pageA, "in", fromA)) === 0, "A does not hear its own message back");
      check((await count(pageB, "in", fromB)) === 0, "B does not hear its own message back");
    });

    await step("a long message goes compressed: Chromium negotiated permessage-deflate", async () => {
      // 128 bytes or more (--deflate-threshold): the relay compresses it for B, which
      // it does only for a socket that negotiated the extension, and B must inflate it.
      const long = `compress me, ${"the same words again and again ".repeat(8)}`.trim();
      const before = await deflateCompressions(baseUrl);
      await sendFrom(pageA, long);
      await waitForEntry(pageB, "in", long);
      if (!process.env.E2E_SERVER_CMD) {
        const after = await deflateCompressions(baseUrl);
        check(after > before, `wsrelay_deflate_compressions_total rose (${before} -> ${after})`);
      }
    });

    await step("server killed: both pages say they are reconnecting", async () => {
      await killServer(server);
      for (const page of [pageA, pageB]) {
        await waitForState(page, "reconnecting");
        const text = await page.locator("#status-text").textContent();
        check(/^reconnecting in \d+s$/.test(text), `status text counts down, got "${text}"`);
        check(await page.locator("#send").isDisabled(), "send is disabled while reconnecting");
      }
      await pageB.setViewportSize({ width: 320, height: 640 });
      const overflow = await pageB.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `no horizontal overflow at 320px while reconnecting, got ${overflow}px`);
      await pageB.setViewportSize({ width: 390, height: 844 });
      // A failed retry schedules the next one: the page keeps trying, and says so.
      const retried = () => {
        const status = document.getElementById("status");
        return status.dataset.state === "reconnecting" && Number(status.dataset.attempt) >= 3;
      };
      await waitUntil(pageA, "a third reconnect attempt", retried);
    });

    const afterRestart = "back again";
    await step("server restarted on the same port: both pages recover and talk", async () => {
      server = await startServer(port);
      await waitForState(pageA, "open", RECOVERY_TIMEOUT_MS);
      await waitForState(pageB, "open", RECOVERY_TIMEOUT_MS);
      await waitForEntry(pageA, "in", GREETING, 3);
      await waitForEntry(pageB, "in", GREETING, 2);
      await sendFrom(pageA, afterRestart);
      await waitForEntry(pageB, "in", afterRestart);
      await sendFrom(pageB, "glad you are back");
      await waitForEntry(pageA, "in", "glad you are back");
    });

    await step("readable at phone width (no sideways scrolling); screenshot saved", async () => {
      for (const width of [320, 390]) {
        await pageB.setViewportSize({ width, height: 844 });
        const overflow = await pageB.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(overflow <= 0, `no horizontal overflow at ${width}px, got ${overflow}px`);
      }
      const file = process.env.E2E_SCREENSHOT || path.join(REPO_ROOT, "docs", "demo.png");
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await front(pageB);
      await pageB.screenshot({ path: file });
      console.log(`     screenshot: ${path.relative(process.cwd(), file) || file}`);
    });

    await step("?room= and the room field pick the WebSocket path; bad names are refused", async () => {
      const pageC = await context.newPage();
      pageNames.set(pageC, "page C");
      await pageC.goto(`${baseUrl}/demo?room=/prices/btc-usd`);
      check((await pageC.locator("#endpoint").textContent()) === `${WS}://127.0.0.1:${port}/prices/btc-usd`, "?room= sets the path");
      check((await pageC.locator("#room").inputValue()) === "/prices/btc-usd", "?room= fills the room field");
      const pageD = await context.newPage();
      pageNames.set(pageD, "page D");
      await pageD.goto(`${baseUrl}/demo`);
      await waitForState(pageD, "open");
      await front(pageD);
      await pageD.fill("#room", "bad room!");
      await pageD.press("#room", "Enter");
      check(await pageD.locator("#room-error").isVisible(), "a bad room name shows an error");
      check((await pageD.locator("#endpoint").textContent()) === `${WS}://127.0.0.1:${port}/`, "a bad room name keeps the old room");
      await pageD.fill("#room", "prices/btc-usd");
      await pageD.press("#room", "Enter");
      check(await pageD.locator("#room-error").isHidden(), "the error goes away");
      check((await pageD.locator("#endpoint").textContent()) === `${WS}://127.0.0.1:${port}/prices/btc-usd`, "the field sets the path");
      check(new URL(pageD.url()).searchParams.get("room") === "/prices/btc-usd", "the page URL remembers the room");
      if (process.env.E2E_ROOMS !== "0") {
        await waitForState(pageC, "open");
        await waitForState(pageD, "open");
        const price = "BTC-USD 97000.00";
        await sendFrom(pageC, price);
        await waitForEntry(pageD, "in", price);
        const lobby = "lobby only";
        await sendFrom(pageA, lobby);
        await waitForEntry(pageB, "in", lobby);
        check((await count(pageB, "in", price)) === 0, "room / does not hear /prices/btc-usd");
        check((await count(pageC, "in", lobby)) === 0, "/prices/btc-usd does not hear room /");
      }
      await pageC.close();
      await pageD.close();
    });

    check(pageErrors.length === 0, `no script errors on the page: ${pageErrors.join("; ")}`);
  } finally {
    await context.close().catch(() => {});
  }
}

process.on("exit", cleanUpNow);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanUpNow();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`FAIL: the test took longer than ${TEST_BUDGET_MS} ms`);
  process.exit(1);
}, TEST_BUDGET_MS);

try {
  await run();
  console.log("e2e: all checks passed");
  process.exitCode = 0;
} catch (err) {
  console.error(`FAIL: ${err.stack || err}`);
  if (lastServer) console.error(`server output (last lines):\n${lastServer.output.join("\n")}`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  cleanUpNow();
}
