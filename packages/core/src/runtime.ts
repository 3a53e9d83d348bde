/**
 * The JavaScript runtime this code runs in, for messages that say where something is missing:
 * `Node 20.20.2`, `Deno 2.9.6`, `Bun 1.4.5`, or a browser from its user agent (`Firefox 153`, …).
 */
export function runtimeName(): string {
  const scope = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: { version?: string };
    process?: { versions?: { node?: string } };
    navigator?: { userAgent?: string };
  };
  if (scope.Deno?.version?.deno) return `Deno ${scope.Deno.version.deno}`;
  if (scope.Bun?.version) return `Bun ${scope.Bun.version}`;
  if (scope.process?.versions?.node) return `Node ${scope.process.versions.node}`;
  const agent = scope.navigator?.userAgent ?? '';
  // Order matters: Edge and Chrome agents also say Safari, Chrome's also says Chrome for Edge.
  for (const [pattern, name] of [[/Firefox\/(\d+)/, 'Firefox'], [/Edg\/(\d+)/, 'Edge'], [/Chrome\/(\d+)/, 'Chromium'], [/Version\/(\d+)[\d.]* Safari/, 'Safari']] as const) {
    const match = pattern.exec(agent);
    if (match) return `${name} ${match[1]}`;
  }
  return agent ? `this runtime (${agent})` : 'this runtime';
}
