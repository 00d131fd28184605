// Starts the real gestalt-live binary on a free loopback port and stops it again.
//
// The server is asked for port 0 and tells us the port it got in its "serving http://…" log line, so
// parallel runs never race for a port.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
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

// `gestalt-live demo` writing its simulated cluster's kubeconfig, and a `kubectl` against that cluster (throws
// with kubectl's stderr when it fails), so a test changes the cluster the way an operator would.
export async function startDemoWithKubectl(args = [], options = {}) {
  const kubeconfig = path.join(mkdtempSync(path.join(os.tmpdir(), 'gestalt-e2e-')), 'kubeconfig');
  const server = await startServer(['demo', '--write-kubeconfig', kubeconfig, ...args], options);
  const kubectl = (kubectlArgs, input) => {
    const result = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...kubectlArgs], { input, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`kubectl ${kubectlArgs.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  };
  return { server, kubectl };
}
