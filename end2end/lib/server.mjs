// Starts the real gestalt-live binary on a free loopback port and stops it again.
//
// The server is asked for port 0 and tells us the port it got in its "serving http://…" log line, so
// parallel runs never race for a port.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

export function binaryPath() {
  return process.env.GESTALT_BIN ?? path.join(repoRoot, 'target', 'release', 'gestalt-live');
}

export async function startServer(args = ['demo'], { timeoutMs = 30_000, listen = '127.0.0.1:0' } = {}) {
  const child = spawn(binaryPath(), [...args, '--listen', listen], {
    cwd: repoRoot,
    // The demo churns by default; the tests count and photograph a still cluster unless they ask otherwise.
    env: { ...process.env, GESTALT_LOG: process.env.GESTALT_LOG ?? 'info', GESTALT_CHURN: process.env.GESTALT_CHURN ?? '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      const match = log.match(/serving (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before serving:\n${log}`));
    });
  });
  child.stderr.on('data', (chunk) => { log += chunk.toString(); });
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
